// Package discoverytest is the conformance suite every discovery.Registry
// and kv.KV implementation runs (embedded and Consul alike).
package discoverytest

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/elk-project/elk/orchestrator/discovery"
	"github.com/elk-project/elk/orchestrator/kv"
)

// Timeout bounds every wait of the suites (health checks, watches).
const Timeout = 30 * time.Second

func uniq(prefix string) string { return fmt.Sprintf("%s%06d", prefix, rand.IntN(1000000)) }

func eventually(t *testing.T, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(Timeout)
	var last string
	for time.Now().Before(deadline) {
		ok, msg := cond()
		if ok {
			return
		}
		last = msg
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("%s not reached within %v: %s", what, Timeout, last)
}

func ids(ss []discovery.Service) []string {
	var out []string
	for _, s := range ss {
		out = append(out, s.ID)
	}
	slices.Sort(out)
	return out
}

func resolveIDs(r discovery.Registry, name string) func() (bool, []string, string) {
	return func() (bool, []string, string) {
		ss, err := r.Resolve(context.Background(), name)
		if err != nil {
			return false, nil, err.Error()
		}
		return true, ids(ss), fmt.Sprint(ids(ss))
	}
}

func waitIDs(t *testing.T, r discovery.Registry, name string, want []string) {
	t.Helper()
	slices.Sort(want)
	eventually(t, fmt.Sprintf("resolve %s = %v", name, want), func() (bool, string) {
		ok, got, msg := resolveIDs(r, name)()
		return ok && slices.Equal(got, want), "got " + msg
	})
}

// healthServer is an HTTP server answering its check path with a status
// that the test can switch.
type healthServer struct {
	srv *httptest.Server
	mu  sync.Mutex
	ok  bool
}

func newHealthServer(t *testing.T) *healthServer {
	h := &healthServer{ok: true}
	h.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.mu.Lock()
		defer h.mu.Unlock()
		if !h.ok {
			http.Error(w, "unhealthy", http.StatusServiceUnavailable)
			return
		}
		w.Write([]byte("ok"))
	}))
	t.Cleanup(h.srv.Close)
	return h
}

func (h *healthServer) set(ok bool) { h.mu.Lock(); h.ok = ok; h.mu.Unlock() }

func (h *healthServer) hostPort() (string, int) {
	host, port, _ := net.SplitHostPort(h.srv.Listener.Addr().String())
	p, _ := strconv.Atoi(port)
	return host, p
}

// RunRegistry runs the registry conformance suite. newRegistry is called
// once per subtest. Services are registered with unique names so a shared
// backend (a Consul agent) can be used.
func RunRegistry(t *testing.T, newRegistry func(t *testing.T) discovery.Registry) {
	t.Helper()
	cases := []struct {
		name string
		fn   func(t *testing.T, r discovery.Registry)
	}{
		{"RegisterResolveDeregister", testRegisterResolve},
		{"ResolveUnknownIsEmpty", testResolveUnknown},
		{"HealthCheckGatesResolve", testHealthCheck},
		{"WatchFollowsChanges", testWatch},
		{"TagsAndMetaRoundTrip", testTagsMeta},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, newRegistry(t)) })
	}
}

func register(t *testing.T, r discovery.Registry, s discovery.Service) {
	t.Helper()
	if err := r.Register(context.Background(), s); err != nil {
		t.Fatalf("register %s: %v", s.ID, err)
	}
	t.Cleanup(func() { _ = r.Deregister(context.Background(), s.ID) })
}

func testRegisterResolve(t *testing.T, r discovery.Registry) {
	name := uniq("conf-svc")
	register(t, r, discovery.Service{ID: name + "-0", Name: name, Address: "127.0.0.1", Port: 10001})
	register(t, r, discovery.Service{ID: name + "-1", Name: name, Address: "127.0.0.1", Port: 10002})
	waitIDs(t, r, name, []string{name + "-0", name + "-1"})
	ss, _ := r.Resolve(context.Background(), name)
	for _, s := range ss {
		if s.Name != name || s.Address != "127.0.0.1" || (s.Port != 10001 && s.Port != 10002) || !s.Healthy {
			t.Errorf("resolved %+v: want name %s, address 127.0.0.1, its port, healthy", s, name)
		}
	}
	if err := r.Deregister(context.Background(), name+"-0"); err != nil {
		t.Fatalf("deregister: %v", err)
	}
	waitIDs(t, r, name, []string{name + "-1"})
	// Registering the same id again replaces the registration.
	register(t, r, discovery.Service{ID: name + "-1", Name: name, Address: "127.0.0.1", Port: 10003})
	eventually(t, "re-registration replaces the port", func() (bool, string) {
		ss, err := r.Resolve(context.Background(), name)
		if err != nil || len(ss) != 1 {
			return false, fmt.Sprint(ss, err)
		}
		return ss[0].Port == 10003, fmt.Sprint(ss)
	})
}

func testResolveUnknown(t *testing.T, r discovery.Registry) {
	ss, err := r.Resolve(context.Background(), uniq("conf-nosuch"))
	if err != nil {
		t.Fatalf("resolve unknown: got error %v, want an empty result", err)
	}
	if len(ss) != 0 {
		t.Fatalf("resolve unknown: got %v, want empty", ss)
	}
}

func testHealthCheck(t *testing.T, r discovery.Registry) {
	name := uniq("conf-chk")
	hs := newHealthServer(t)
	host, port := hs.hostPort()
	register(t, r, discovery.Service{ID: name + "-0", Name: name, Address: host, Port: port,
		Check: fmt.Sprintf("http://%s:%d/health", host, port)})
	// A check against a closed port never passes.
	dead, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	deadAddr := dead.Addr().String()
	dead.Close()
	register(t, r, discovery.Service{ID: name + "-dead", Name: name, Address: "127.0.0.1", Port: 1,
		Check: "tcp://" + deadAddr})
	waitIDs(t, r, name, []string{name + "-0"})
	hs.set(false)
	waitIDs(t, r, name, nil)
	hs.set(true)
	waitIDs(t, r, name, []string{name + "-0"})
}

func testWatch(t *testing.T, r discovery.Registry) {
	name := uniq("conf-watch")
	register(t, r, discovery.Service{ID: name + "-0", Name: name, Address: "127.0.0.1", Port: 10001})
	waitIDs(t, r, name, []string{name + "-0"})

	ctx, cancel := context.WithCancel(context.Background())
	var mu sync.Mutex
	var seen [][]string
	done := make(chan error, 1)
	go func() {
		done <- r.Watch(ctx, name, func(ss []discovery.Service) {
			mu.Lock()
			seen = append(seen, ids(ss))
			mu.Unlock()
		})
	}()
	saw := func(want []string) func() (bool, string) {
		return func() (bool, string) {
			mu.Lock()
			defer mu.Unlock()
			for _, s := range seen {
				if slices.Equal(s, want) {
					return true, ""
				}
			}
			return false, fmt.Sprint("calls so far: ", seen)
		}
	}
	eventually(t, "watch reports the current instances", saw([]string{name + "-0"}))
	register(t, r, discovery.Service{ID: name + "-1", Name: name, Address: "127.0.0.1", Port: 10002})
	eventually(t, "watch reports an added instance", saw([]string{name + "-0", name + "-1"}))
	if err := r.Deregister(context.Background(), name+"-0"); err != nil {
		t.Fatal(err)
	}
	eventually(t, "watch reports a removed instance", saw([]string{name + "-1"}))
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("watch returned %v after cancel, want context.Canceled", err)
		}
	case <-time.After(Timeout):
		t.Fatal("watch did not return after its context was cancelled")
	}
}

func testTagsMeta(t *testing.T, r discovery.Registry) {
	name := uniq("conf-tags")
	register(t, r, discovery.Service{ID: name + "-0", Name: name, Address: "127.0.0.1", Port: 10001,
		Tags: []string{"app=demo", "entity=es", "tenant=acme"}, Meta: map[string]string{"instance": "0"}})
	waitIDs(t, r, name, []string{name + "-0"})
	ss, _ := r.Resolve(context.Background(), name)
	if len(ss) != 1 {
		t.Fatalf("resolve: %v", ss)
	}
	tags := slices.Clone(ss[0].Tags)
	slices.Sort(tags)
	for _, want := range []string{"app=demo", "entity=es", "tenant=acme"} {
		if !slices.Contains(tags, want) {
			t.Errorf("tags %v lack %q", tags, want)
		}
	}
	if ss[0].Meta["instance"] != "0" {
		t.Errorf("meta %v: want instance=0", ss[0].Meta)
	}
}

// RunKV runs the KV conformance suite. Keys live under a unique prefix per
// subtest so a shared backend can be used.
func RunKV(t *testing.T, newKV func(t *testing.T) kv.KV) {
	t.Helper()
	cases := []struct {
		name string
		fn   func(t *testing.T, store kv.KV, prefix string)
	}{
		{"GetMissing", testKVMissing},
		{"PutGet", testKVPutGet},
		{"CAS", testKVCAS},
		{"DeleteAndList", testKVList},
		{"ConcurrentCAS", testKVConcurrentCAS},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			store := newKV(t)
			prefix := uniq("elk-conformance/") + "/"
			t.Cleanup(func() {
				all, _ := store.List(context.Background(), prefix)
				for k := range all {
					_ = store.Delete(context.Background(), k)
				}
			})
			tc.fn(t, store, prefix)
		})
	}
}

func testKVMissing(t *testing.T, store kv.KV, p string) {
	if _, _, err := store.Get(context.Background(), p+"missing"); !errors.Is(err, kv.ErrNotFound) {
		t.Errorf("get missing: got %v, want kv.ErrNotFound", err)
	}
	if err := store.Delete(context.Background(), p+"missing"); err != nil {
		t.Errorf("delete missing: got %v, want nil", err)
	}
}

func testKVPutGet(t *testing.T, store kv.KV, p string) {
	ctx := context.Background()
	if err := store.Put(ctx, p+"a/b", []byte(`{"x":1}`)); err != nil {
		t.Fatalf("put: %v", err)
	}
	v, i1, err := store.Get(ctx, p+"a/b")
	if err != nil || string(v) != `{"x":1}` || i1 == 0 {
		t.Fatalf("get: %q, index %d, %v; want {\"x\":1}, a non-zero index", v, i1, err)
	}
	if err := store.Put(ctx, p+"a/b", []byte("second")); err != nil {
		t.Fatalf("put again: %v", err)
	}
	v, i2, err := store.Get(ctx, p+"a/b")
	if err != nil || string(v) != "second" || i2 <= i1 {
		t.Fatalf("get after overwrite: %q, index %d (before %d), %v; want second and a larger index", v, i2, i1, err)
	}
}

func testKVCAS(t *testing.T, store kv.KV, p string) {
	ctx := context.Background()
	k := p + "cas"
	ok, err := store.CAS(ctx, k, []byte("v1"), 0)
	if err != nil || !ok {
		t.Fatalf("cas create: %v, %v; want true", ok, err)
	}
	ok, err = store.CAS(ctx, k, []byte("v1bis"), 0)
	if err != nil || ok {
		t.Fatalf("cas create of an existing key: %v, %v; want false", ok, err)
	}
	_, idx, err := store.Get(ctx, k)
	if err != nil {
		t.Fatal(err)
	}
	ok, err = store.CAS(ctx, k, []byte("v2"), idx)
	if err != nil || !ok {
		t.Fatalf("cas with current index: %v, %v; want true", ok, err)
	}
	ok, err = store.CAS(ctx, k, []byte("v3"), idx)
	if err != nil || ok {
		t.Fatalf("cas with stale index: %v, %v; want false", ok, err)
	}
	v, _, _ := store.Get(ctx, k)
	if string(v) != "v2" {
		t.Fatalf("value after cas: %q, want v2", v)
	}
}

func testKVList(t *testing.T, store kv.KV, p string) {
	ctx := context.Background()
	for _, k := range []string{"apps/a", "apps/b", "apps/c/deep", "other"} {
		if err := store.Put(ctx, p+k, []byte(k)); err != nil {
			t.Fatalf("put %s: %v", k, err)
		}
	}
	got, err := store.List(ctx, p+"apps/")
	if err != nil {
		t.Fatalf("list: %v", err)
	}
	var keys []string
	for k, v := range got {
		keys = append(keys, k)
		if p+string(v) != k {
			t.Errorf("list: key %s has value %q", k, v)
		}
	}
	slices.Sort(keys)
	want := []string{p + "apps/a", p + "apps/b", p + "apps/c/deep"}
	if !slices.Equal(keys, want) {
		t.Errorf("list keys: got %v, want %v", keys, want)
	}
	if err := store.Delete(ctx, p+"apps/b"); err != nil {
		t.Fatal(err)
	}
	got, _ = store.List(ctx, p+"apps/")
	if _, ok := got[p+"apps/b"]; ok || len(got) != 2 {
		t.Errorf("list after delete: %v", got)
	}
	if got, err := store.List(ctx, p+"nothing/"); err != nil || len(got) != 0 {
		t.Errorf("list of an empty prefix: %v, %v; want empty", got, err)
	}
}

func testKVConcurrentCAS(t *testing.T, store kv.KV, p string) {
	ctx := context.Background()
	k := p + "counter"
	if err := store.Put(ctx, k, []byte("0")); err != nil {
		t.Fatal(err)
	}
	const workers, incs = 4, 5
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for range incs {
				for {
					v, idx, err := store.Get(ctx, k)
					if err != nil {
						t.Error(err)
						return
					}
					n, _ := strconv.Atoi(string(v))
					ok, err := store.CAS(ctx, k, []byte(strconv.Itoa(n+1)), idx)
					if err != nil {
						t.Error(err)
						return
					}
					if ok {
						break
					}
				}
			}
		})
	}
	wg.Wait()
	v, _, _ := store.Get(ctx, k)
	if string(v) != strconv.Itoa(workers*incs) {
		t.Errorf("counter after %d concurrent CAS increments: %s", workers*incs, v)
	}
}
