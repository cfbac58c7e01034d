package tenant

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/elk-project/elk/orchestrator/kv"
)

// Errors callers test with errors.Is.
var (
	ErrNotFound = errors.New("no such tenant")
	ErrExists   = errors.New("tenant exists")
	ErrInvalid  = errors.New("invalid tenant")
	// ErrConflict: the tenant changed since the version the caller read.
	ErrConflict = errors.New("tenant changed meanwhile")
)

// DefaultPrefix is where tenants live in the KV store.
const DefaultPrefix = "elk/tenants/"

// Store keeps tenants in a KV store, one key per tenant, each write a new
// version (compare-and-set, so concurrent servers never lose an edit).
type Store struct {
	kv     kv.KV
	prefix string
	now    func() time.Time
}

// NewStore returns a store under prefix (DefaultPrefix when empty).
func NewStore(k kv.KV, prefix string) *Store {
	if prefix == "" {
		prefix = DefaultPrefix
	}
	return &Store{kv: k, prefix: prefix, now: time.Now}
}

func (s *Store) key(name string) string { return s.prefix + name }

// Get returns a tenant's record.
func (s *Store) Get(ctx context.Context, name string) (*Record, error) {
	r, _, err := s.get(ctx, name)
	return r, err
}

func (s *Store) get(ctx context.Context, name string) (*Record, uint64, error) {
	if err := ValidName(name); err != nil {
		return nil, 0, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	b, idx, err := s.kv.Get(ctx, s.key(name))
	if errors.Is(err, kv.ErrNotFound) {
		return nil, 0, fmt.Errorf("tenant %s: %w", name, ErrNotFound)
	}
	if err != nil {
		return nil, 0, fmt.Errorf("read tenant %s: %w", name, err)
	}
	var r Record
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, 0, fmt.Errorf("decode tenant %s: %w", name, err)
	}
	return &r, idx, nil
}

// Create stores a new tenant (version 1); ErrExists if the name is taken.
func (s *Store) Create(ctx context.Context, t Tenant, author string) (*Record, error) {
	if err := t.Validate(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	r := (*Record)(nil).next(t, author, s.now().UTC())
	ok, err := s.cas(ctx, &r, 0)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, fmt.Errorf("tenant %s: %w", t.Name, ErrExists)
	}
	return &r, nil
}

// Update replaces a tenant's definition if its stored version is still
// version (0: whatever it is); the previous one goes to its history.
func (s *Store) Update(ctx context.Context, t Tenant, version int, author string) (*Record, error) {
	if err := t.Validate(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	cur, idx, err := s.get(ctx, t.Name)
	if err != nil {
		return nil, err
	}
	if version != 0 && cur.Version != version {
		return nil, fmt.Errorf("tenant %s is at version %d, not %d: %w", t.Name, cur.Version, version, ErrConflict)
	}
	r := cur.next(t, author, s.now().UTC())
	ok, err := s.cas(ctx, &r, idx)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, fmt.Errorf("tenant %s: %w", t.Name, ErrConflict)
	}
	return &r, nil
}

func (s *Store) cas(ctx context.Context, r *Record, idx uint64) (bool, error) {
	b, err := json.Marshal(r)
	if err != nil {
		return false, err
	}
	ok, err := s.kv.CAS(ctx, s.key(r.Tenant.Name), b, idx)
	if err != nil {
		return false, fmt.Errorf("save tenant %s: %w", r.Tenant.Name, err)
	}
	return ok, nil
}

// Delete removes a tenant's record.
func (s *Store) Delete(ctx context.Context, name string) error {
	if _, _, err := s.get(ctx, name); err != nil {
		return err
	}
	if err := s.kv.Delete(ctx, s.key(name)); err != nil {
		return fmt.Errorf("delete tenant %s: %w", name, err)
	}
	return nil
}

// List returns every tenant, by name. A record that does not decode is
// reported and the others are returned.
func (s *Store) List(ctx context.Context) ([]Record, error) {
	m, err := s.kv.List(ctx, s.prefix)
	if err != nil {
		return nil, fmt.Errorf("list tenants: %w", err)
	}
	out := make([]Record, 0, len(m))
	var errs []error
	for _, key := range slices.Sorted(maps.Keys(m)) {
		var r Record
		if err := json.Unmarshal(m[key], &r); err != nil {
			errs = append(errs, fmt.Errorf("decode %s: %w", key, err))
			continue
		}
		out = append(out, r)
	}
	return out, errors.Join(errs...) // keys are prefix+name: sorted by name
}
