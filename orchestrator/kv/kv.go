// Package kv is the contract of elk's state store: the orchestrator and
// the policy engine keep their state behind it (Consul KV on the nomad
// target, a directory on the local target). It imports nothing of elk's,
// so every domain package may depend on it.
package kv

import (
	"context"
	"errors"
)

// ErrNotFound is returned for a key that does not exist.
var ErrNotFound = errors.New("not found")

// KV is a key/value store with compare-and-set. Get returns ErrNotFound
// for a missing key. CAS writes only if the key's modify index is still
// index (0: the key must not exist) and reports whether it wrote.
type KV interface {
	Get(ctx context.Context, key string) (value []byte, index uint64, err error)
	Put(ctx context.Context, key string, value []byte) error
	CAS(ctx context.Context, key string, value []byte, index uint64) (bool, error)
	Delete(ctx context.Context, key string) error
	List(ctx context.Context, prefix string) (map[string][]byte, error)
}
