package embedded_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/elk-project/elk/orchestrator/discovery"
	"github.com/elk-project/elk/orchestrator/discovery/discoverytest"
	"github.com/elk-project/elk/orchestrator/discovery/embedded"
	"github.com/elk-project/elk/orchestrator/kv"
)

func newRegistry(t *testing.T) *embedded.Registry {
	r := embedded.New(embedded.Config{CheckInterval: 100 * time.Millisecond}, nil)
	t.Cleanup(r.Close)
	return r
}

func TestRegistryConformance(t *testing.T) {
	discoverytest.RunRegistry(t, func(t *testing.T) discovery.Registry { return newRegistry(t) })
}

func TestHTTPClientConformance(t *testing.T) {
	discoverytest.RunRegistry(t, func(t *testing.T) discovery.Registry {
		srv := httptest.NewServer(newRegistry(t).Handler())
		t.Cleanup(srv.Close)
		c, err := embedded.NewClient(srv.URL, nil)
		if err != nil {
			t.Fatal(err)
		}
		return c
	})
}

func TestDirKVConformance(t *testing.T) {
	discoverytest.RunKV(t, func(t *testing.T) kv.KV {
		kv, err := embedded.NewDirKV(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		return kv
	})
}

func TestDirKVSurvivesReopen(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	kv, err := embedded.NewDirKV(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"apps/demo", "apps/demo/journal", "weird/../key", "sp ace/é"} {
		if err := kv.Put(ctx, k, []byte(k)); err != nil {
			t.Fatalf("put %q: %v", k, err)
		}
	}
	_, idx, _ := kv.Get(ctx, "sp ace/é")
	kv2, err := embedded.NewDirKV(dir)
	if err != nil {
		t.Fatal(err)
	}
	all, err := kv2.List(ctx, "")
	if err != nil || len(all) != 4 {
		t.Fatalf("list after reopen: %v, %v; want 4 keys", all, err)
	}
	for k, v := range all {
		if k != string(v) {
			t.Errorf("key %q has value %q", k, v)
		}
	}
	if err := kv2.Put(ctx, "apps/demo", []byte("x")); err != nil {
		t.Fatal(err)
	}
	if _, idx2, _ := kv2.Get(ctx, "apps/demo"); idx2 <= idx {
		t.Errorf("index after reopen went back: %d <= %d", idx2, idx)
	}
}

func TestRejectsBadKeys(t *testing.T) {
	kv, err := embedded.NewDirKV(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"", "/abs", "trailing/", "a//b"} {
		if err := kv.Put(context.Background(), k, nil); err == nil {
			t.Errorf("put %q: want an error", k)
		}
	}
}

// TestClientWatchSurvivesRegistryRestart: a watcher keeps following a
// service across a registry outage and a restart that resets the index.
func TestClientWatchSurvivesRegistryRestart(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	serve := func(l net.Listener, r *embedded.Registry) *http.Server {
		srv := &http.Server{Handler: r.Handler()}
		go srv.Serve(l)
		return srv
	}
	r1 := newRegistry(t)
	r1.Register(context.Background(), discovery.Service{ID: "a-0", Name: "a", Address: "127.0.0.1", Port: 1})
	srv := serve(l, r1)
	c, err := embedded.NewClient("http://"+addr, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	got := make(chan []string, 16)
	go c.Watch(ctx, "a", func(ss []discovery.Service) {
		var ids []string
		for _, s := range ss {
			ids = append(ids, s.ID)
		}
		got <- ids
	})
	expect := func(want string) {
		t.Helper()
		timeout := time.After(10 * time.Second)
		for {
			select {
			case ids := <-got:
				if strings.Join(ids, ",") == want {
					return
				}
			case <-timeout:
				t.Fatalf("watch never reported [%s]", want)
			}
		}
	}
	expect("a-0")
	srv.Close() // outage
	time.Sleep(300 * time.Millisecond)
	r2 := newRegistry(t) // a fresh registry: its index starts over
	r2.Register(context.Background(), discovery.Service{ID: "a-1", Name: "a", Address: "127.0.0.1", Port: 2})
	l2, err := net.Listen("tcp", addr)
	if err != nil {
		t.Skipf("cannot listen on %s again: %v", addr, err)
	}
	srv2 := serve(l2, r2)
	defer srv2.Close()
	expect("a-1")
}

// TestRegistrationBounds: the registry holds at most MaxServices
// registrations (re-registering a held one still works), and probes only
// the registering instance's own address.
func TestRegistrationBounds(t *testing.T) {
	r := embedded.New(embedded.Config{MaxServices: 3}, nil)
	defer r.Close()
	ctx := context.Background()
	for i := range 3 {
		if err := r.Register(ctx, discovery.Service{ID: fmt.Sprintf("s-%d", i), Name: "s", Address: "127.0.0.1", Port: 1}); err != nil {
			t.Fatal(err)
		}
	}
	if err := r.Register(ctx, discovery.Service{ID: "s-3", Name: "s", Address: "127.0.0.1", Port: 1}); !errors.Is(err, embedded.ErrFull) {
		t.Fatalf("fourth registration: %v, want ErrFull", err)
	}
	if err := r.Register(ctx, discovery.Service{ID: "s-0", Name: "s", Address: "127.0.0.1", Port: 2}); err != nil {
		t.Fatalf("re-registering a held id: %v", err)
	}
	for _, check := range []string{"http://169.254.169.254/latest/meta-data/", "tcp://10.0.0.1:22", "http://localhost:1/"} {
		err := r.Register(ctx, discovery.Service{ID: "s-1", Name: "s", Address: "127.0.0.1", Port: 1, Check: check})
		if err == nil || !strings.Contains(err.Error(), "own address") {
			t.Errorf("check %s of a service at 127.0.0.1: %v, want a refusal", check, err)
		}
	}
}
