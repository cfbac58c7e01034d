package consul

import (
	"context"
	"errors"
	"os"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"

	"github.com/elk-project/elk/orchestrator/discovery"
	"github.com/elk-project/elk/orchestrator/discovery/discoverytest"
	"github.com/elk-project/elk/orchestrator/kv"
)

func realConsul(t *testing.T) *api.Client {
	t.Helper()
	if os.Getenv("CONSUL_HTTP_ADDR") == "" {
		t.Skip("CONSUL_HTTP_ADDR is not set: skipping the Consul suite (run a `consul agent -dev` and set CONSUL_HTTP_ADDR)")
	}
	c, err := api.NewClient(api.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestConformanceRegistry runs the registry conformance suite against the
// Consul agent at CONSUL_HTTP_ADDR.
func TestConformanceRegistry(t *testing.T) {
	c := realConsul(t)
	discoverytest.RunRegistry(t, func(t *testing.T) discovery.Registry {
		r, err := NewRegistry(Config{Client: c, CheckInterval: time.Second, WatchWait: 5 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		return r
	})
}

// TestConformanceKV runs the KV conformance suite against CONSUL_HTTP_ADDR.
func TestConformanceKV(t *testing.T) {
	c := realConsul(t)
	discoverytest.RunKV(t, func(t *testing.T) kv.KV {
		kv, err := NewKV(Config{Client: c, KVPrefix: "elk-test/"})
		if err != nil {
			t.Fatal(err)
		}
		return kv
	})
}

// TestIntegrationLock elects a leader between two locks on a real agent.
func TestIntegrationLock(t *testing.T) {
	c := realConsul(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	key := "elk-test/leader-" + time.Now().Format("150405.000")
	a, err := NewLock(Config{Client: c, WatchWait: 2 * time.Second}, LockConfig{Key: key, Value: []byte("a"), TTL: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := NewLock(Config{Client: c, WatchWait: 2 * time.Second}, LockConfig{Key: key, Value: []byte("b"), TTL: 10 * time.Second})
	heldA, err := a.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.TryAcquire(ctx); !errors.Is(err, ErrLockHeld) {
		t.Fatalf("second lock: %v, want ErrLockHeld", err)
	}
	got := make(chan error, 1)
	go func() {
		_, err := b.Acquire(ctx)
		got <- err
	}()
	time.Sleep(500 * time.Millisecond)
	if err := a.Release(ctx); err != nil {
		t.Fatal(err)
	}
	if heldA.Err() == nil {
		t.Error("released lock's context not done")
	}
	select {
	case err := <-got:
		if err != nil {
			t.Fatalf("b acquire after a released: %v", err)
		}
	case <-ctx.Done():
		t.Fatal("b never acquired the lock")
	}
	p, _, err := c.KV().Get(key, nil)
	if err != nil || p == nil || string(p.Value) != "b" {
		t.Errorf("key after handover: %+v %v", p, err)
	}
	if err := b.Release(ctx); err != nil {
		t.Error(err)
	}
	c.KV().Delete(key, nil)
}
