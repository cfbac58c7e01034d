package consul

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/elk-project/elk/orchestrator/internal/replay"

	"github.com/hashicorp/consul/api"

	"github.com/elk-project/elk/orchestrator/discovery"
	"github.com/elk-project/elk/orchestrator/kv"
)

func client(t *testing.T, r *replay.Server) *api.Client {
	t.Helper()
	c, err := api.NewClient(&api.Config{Address: r.URL()})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// instantly is a clock whose timers fire at once, so retries take no time.
func instantly(time.Duration) <-chan time.Time {
	ch := make(chan time.Time, 1)
	ch <- time.Time{}
	return ch
}

func newRegistry(t *testing.T, r *replay.Server) *Registry {
	reg, err := NewRegistry(Config{Client: client(t, r), After: instantly})
	if err != nil {
		t.Fatal(err)
	}
	return reg
}

func TestRegister(t *testing.T) {
	for _, tc := range []struct {
		name    string
		svc     discovery.Service
		fixture string
		request string
	}{
		{"http check", discovery.Service{ID: "demo-elasticsearch-0", Name: "elk-demo-elasticsearch", Address: "127.0.0.1", Port: 18099,
			Tags: []string{"elk", "app=demo", "entity=elasticsearch"}, Meta: map[string]string{"elk_app": "demo", "elk_entity": "elasticsearch"},
			Check: "http://127.0.0.1:18099/"}, "agent-service-register", "svc.json"},
		{"tcp check", discovery.Service{ID: "tenant-acme-kibana-0", Name: "elk-tenant-kibana", Address: "127.0.0.1", Port: 18098,
			Tags: []string{"elk", "tenant=acme"}, Check: "tcp://127.0.0.1:18098"}, "agent-service-register-failing", "svc2.json"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newReplay(t).On("PUT /v1/agent/service/register", tc.fixture)
			if err := newRegistry(t, r).Register(context.Background(), tc.svc); err != nil {
				t.Fatal(err)
			}
			reqs := r.Requests("PUT /v1/agent/service/register")
			if len(reqs) != 1 || reqs[0].Query.Get("replace-existing-checks") != "true" {
				t.Fatalf("requests %+v", reqs)
			}
			var got, want map[string]any
			json.Unmarshal(reqs[0].Body, &got)
			data, _ := readFile(fixtures + "/requests/" + tc.request)
			json.Unmarshal(data, &want)
			// The recorded request is what elk sends, except that elk
			// only sets DeregisterCriticalServiceAfter when configured.
			delete(want["Check"].(map[string]any), "DeregisterCriticalServiceAfter")
			for _, k := range []string{"ID", "Name", "Tags", "Address", "Port", "Meta"} {
				if jsonOf(got[k]) != jsonOf(want[k]) {
					t.Errorf("%s = %s, want %s", k, jsonOf(got[k]), jsonOf(want[k]))
				}
			}
			gc := got["Check"].(map[string]any)
			for k, v := range want["Check"].(map[string]any) {
				if jsonOf(gc[k]) != jsonOf(v) {
					t.Errorf("Check.%s = %s, want %s", k, jsonOf(gc[k]), jsonOf(v))
				}
			}
		})
	}
}

func TestRegisterRejectsBadInput(t *testing.T) {
	reg := newRegistry(t, newReplay(t))
	for _, s := range []discovery.Service{
		{Name: "x"},
		{ID: "x", Name: "x", Check: "udp://127.0.0.1:1"},
		{ID: "x", Name: "x", Check: "tcp://nohost"},
	} {
		if err := reg.Register(context.Background(), s); err == nil {
			t.Errorf("register %+v: no error", s)
		}
	}
}

func TestMetaKeysSanitized(t *testing.T) {
	r := newReplay(t).On("PUT /v1/agent/service/register", "agent-service-register")
	err := newRegistry(t, r).Register(context.Background(), discovery.Service{ID: "a", Name: "a", Meta: map[string]string{"elk.app": "demo", "port_metrics": "1"}})
	if err != nil {
		t.Fatal(err)
	}
	var got struct{ Meta map[string]string }
	json.Unmarshal(r.Requests("PUT /v1/agent/service/register")[0].Body, &got)
	if got.Meta["elk_app"] != "demo" || got.Meta["port_metrics"] != "1" {
		t.Errorf("meta %v", got.Meta)
	}
}

func TestResolve(t *testing.T) {
	r := newReplay(t).
		On("GET /v1/health/service/elk-demo-elasticsearch", "health-service-passing").
		On("GET /v1/health/service/elk-tenant-kibana", "health-service-critical")
	reg := newRegistry(t, r)
	ss, err := reg.Resolve(context.Background(), "elk-demo-elasticsearch")
	if err != nil {
		t.Fatal(err)
	}
	want := discovery.Service{ID: "demo-elasticsearch-0", Name: "elk-demo-elasticsearch", Address: "127.0.0.1", Port: 18099,
		Tags: []string{"elk", "app=demo", "entity=elasticsearch"}, Meta: map[string]string{"elk_app": "demo", "elk_entity": "elasticsearch"},
		Healthy: true} // the health endpoint does not return check definitions
	if len(ss) != 1 || jsonOf(ss[0]) != jsonOf(want) {
		t.Errorf("resolve:\n got  %s\n want [%s]", jsonOf(ss), jsonOf(want))
	}
	if q := r.Requests("GET /v1/health/service/elk-demo-elasticsearch")[0].Query; q.Get("passing") != "1" {
		t.Errorf("resolve query %v lacks passing", q)
	}
	// An instance whose check is critical is not resolved, even if the
	// agent returns it.
	ss, err = reg.Resolve(context.Background(), "elk-tenant-kibana")
	if err != nil || ss == nil || len(ss) != 0 {
		t.Errorf("resolve of a critical service: %v, %v; want an empty slice", ss, err)
	}
	// An unknown service is empty, not an error (Consul answers []).
	r.OnJSON("GET /v1/health/service/nope", []any{})
	if ss, err := reg.Resolve(context.Background(), "nope"); err != nil || len(ss) != 0 {
		t.Errorf("resolve unknown: %v %v", ss, err)
	}
}

func TestDeregister(t *testing.T) {
	r := newReplay(t).On("PUT /v1/agent/service/deregister/tenant-acme-kibana-0", "agent-service-deregister")
	reg := newRegistry(t, r)
	if err := reg.Deregister(context.Background(), "tenant-acme-kibana-0"); err != nil {
		t.Fatal(err)
	}
	if err := reg.Deregister(context.Background(), "unknown"); err != nil {
		t.Errorf("deregister unknown: %v", err)
	}
}

func TestWatchFollowsChangesThroughOutage(t *testing.T) {
	const route = "GET /v1/health/service/elk-demo-elasticsearch"
	var critical []map[string]any
	json.Unmarshal(loadFixture(t, "health-service-critical").Body, &critical)
	r := newReplay(t).
		On(route, "health-service-passing", "health-service-blocking-timeout").
		OnStatus(route, 500, "No cluster leader").
		OnStatus(route, 500, "No cluster leader").
		OnJSON(route, critical)
	reg := newRegistry(t, r)
	ctx, cancel := context.WithCancel(context.Background())
	var mu sync.Mutex
	var calls [][]string
	done := make(chan error, 1)
	go func() {
		done <- reg.Watch(ctx, "elk-demo-elasticsearch", func(ss []discovery.Service) {
			mu.Lock()
			defer mu.Unlock()
			var ids []string
			for _, s := range ss {
				ids = append(ids, s.ID)
			}
			calls = append(calls, ids)
			if len(calls) == 2 {
				cancel()
			}
		})
	}()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("watch returned %v, want context.Canceled", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("watch did not follow the change")
	}
	if len(calls) != 2 || !slices.Equal(calls[0], []string{"demo-elasticsearch-0"}) || len(calls[1]) != 0 {
		t.Errorf("calls %v: want the instance, then nothing (the blocking timeout and the outage call nothing)", calls)
	}
	reqs := r.Requests(route)
	if len(reqs) != 5 {
		t.Fatalf("%d requests, want 5", len(reqs))
	}
	if q := reqs[1].Query; q.Get("index") != "64" || q.Get("wait") == "" {
		t.Errorf("second request %v is not a blocking query on index 64", q)
	}
	if q := reqs[3].Query; q.Get("index") != "" {
		t.Errorf("after an error the watch restarts without an index, got %v", q)
	}
}

func newKV(t *testing.T, r *replay.Server, prefix string) *KV {
	kv, err := NewKV(Config{Client: client(t, r), KVPrefix: prefix})
	if err != nil {
		t.Fatal(err)
	}
	return kv
}

func TestKV(t *testing.T) {
	r := newReplay(t).
		On("GET /v1/kv/elk/apps/demo", "kv-get").
		On("GET /v1/kv/elk/apps/missing", "kv-get-missing").
		On("PUT /v1/kv/elk/apps/demo", "kv-put").
		On("GET /v1/kv/elk/apps/?recurse", "kv-get-recurse").
		OnJSON("PUT /v1/kv/elk/apps/demo?cas", false).
		On("DELETE /v1/kv/elk/apps/demo", "kv-put")
	store := newKV(t, r, "elk/")
	ctx := context.Background()
	v, idx, err := store.Get(ctx, "apps/demo")
	if err != nil || string(v) != `{"app":"demo","entities":{"collector":{"desired":3}}}` || idx != 65 {
		t.Errorf("get: %q %d %v", v, idx, err)
	}
	if _, _, err := store.Get(ctx, "apps/missing"); !errors.Is(err, kv.ErrNotFound) {
		t.Errorf("get missing: %v, want ErrNotFound", err)
	}
	data, _ := readFile(fixtures + "/requests/kv.json")
	if err := store.Put(ctx, "apps/demo", data); err != nil {
		t.Fatal(err)
	}
	if got := r.Requests("PUT /v1/kv/elk/apps/demo"); len(got) != 1 || string(got[0].Body) != string(data) {
		t.Errorf("put body %q", got)
	}
	all, err := store.List(ctx, "apps/")
	if err != nil || len(all) != 1 || string(all["apps/demo"]) != `{"app":"demo","entities":{"collector":{"desired":3}}}` {
		t.Errorf("list: %v %v", all, err)
	}
	ok, err := store.CAS(ctx, "apps/demo", []byte("x"), 64)
	if err != nil || ok {
		t.Errorf("cas with a stale index: %v %v", ok, err)
	}
	if q := r.Requests("PUT /v1/kv/elk/apps/demo?cas")[0].Query; q.Get("cas") != "64" {
		t.Errorf("cas query %v", q)
	}
	if err := store.Delete(ctx, "apps/demo"); err != nil {
		t.Errorf("delete: %v", err)
	}
}

func TestLock(t *testing.T) {
	r := newReplay(t).
		On("PUT /v1/session/create", "session-create").
		On("PUT /v1/kv/elk/leader?acquire", "kv-lock-acquire").
		On("GET /v1/kv/elk/leader", "kv-lock-get").
		On("PUT /v1/kv/elk/leader?release", "kv-lock-acquire").
		OnJSON("PUT /v1/session/destroy/78e60d2f-727e-eefc-9bea-5f5e70b48133", true)
	l, err := NewLock(Config{Client: client(t, r), KVPrefix: "elk/", After: instantly, WatchWait: 50 * time.Millisecond},
		LockConfig{Key: "leader", Value: []byte("server-1")})
	if err != nil {
		t.Fatal(err)
	}
	held, err := l.Acquire(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var sess struct {
		TTL, Behavior string
	}
	json.Unmarshal(r.Requests("PUT /v1/session/create")[0].Body, &sess)
	if sess.TTL != "15s" || sess.Behavior != "release" {
		t.Errorf("session %+v", sess)
	}
	acq := r.Requests("PUT /v1/kv/elk/leader?acquire")[0]
	if acq.Query.Get("acquire") != "78e60d2f-727e-eefc-9bea-5f5e70b48133" || string(acq.Body) != "server-1" {
		t.Errorf("acquire %v %q", acq.Query, acq.Body)
	}
	time.Sleep(150 * time.Millisecond) // a few watch rounds: still ours
	if held.Err() != nil {
		t.Fatalf("lock lost while the key still names our session")
	}
	if err := l.Release(context.Background()); err != nil {
		t.Fatal(err)
	}
	if held.Err() == nil {
		t.Errorf("the held context is not done after release")
	}
	if len(r.Requests("PUT /v1/kv/elk/leader?release")) != 1 || len(r.Requests("PUT /v1/session/destroy/78e60d2f-727e-eefc-9bea-5f5e70b48133")) != 1 {
		t.Errorf("release did not release the key and destroy the session")
	}
}

func TestLockContendedAndLost(t *testing.T) {
	r := newReplay(t).
		On("PUT /v1/session/create", "session-create-2").
		On("PUT /v1/kv/elk/leader?acquire", "kv-lock-acquire-contended")
	l, err := NewLock(Config{Client: client(t, r), KVPrefix: "elk/"}, LockConfig{Key: "leader"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.TryAcquire(context.Background()); !errors.Is(err, ErrLockHeld) {
		t.Errorf("contended: %v, want ErrLockHeld", err)
	}

	// The key names another session: the holder learns it lost the lock.
	r2 := newReplay(t).
		On("PUT /v1/session/create", "session-create-2").
		OnJSON("PUT /v1/kv/elk/leader?acquire", true).
		On("GET /v1/kv/elk/leader", "kv-lock-get")
	l2, _ := NewLock(Config{Client: client(t, r2), KVPrefix: "elk/", After: instantly}, LockConfig{Key: "leader"})
	held, err := l2.TryAcquire(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-held.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("lock not reported lost")
	}
	if _, err := NewLock(Config{Client: client(t, r2)}, LockConfig{Key: "k", TTL: time.Second}); err == nil || !strings.Contains(err.Error(), "minimum") {
		t.Errorf("short ttl: %v", err)
	}
}
