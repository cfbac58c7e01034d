package nomadsvc

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/nomad/api"

	"github.com/elk-project/elk/orchestrator/discovery"
)

// fakeNomad answers the service and node endpoints the way Nomad v2 does
// (shapes as returned by a dev agent).
func fakeNomad(t *testing.T, instances *atomic.Int32) *Registry {
	t.Helper()
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/service/demo-collector", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Nomad-Index", "7")
		body := `[`
		for i := range instances.Load() {
			if i > 0 {
				body += ","
			}
			body += `{"ID":"_nomad-task-a` + string(rune('0'+i)) + `-group-collector-demo-collector-metrics","ServiceName":"demo-collector",` +
				`"Namespace":"default","NodeID":"n1","Datacenter":"dc1","JobID":"demo-collector","AllocID":"a","Tags":["app=demo","entity=collector"],` +
				`"Address":"127.0.0.1","Port":` + string(rune('1'+i)) + `0000,"CreateIndex":7,"ModifyIndex":7}`
		}
		w.Write([]byte(body + `]`))
	})
	mux.HandleFunc("GET /v1/nodes", func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(`[{"ID":"n1","Status":"ready"},{"ID":"n2","Status":"down"},{"ID":"n3","Status":"ready"}]`))
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	c, err := api.NewClient(&api.Config{Address: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	r, err := New(Config{Client: c, PollInterval: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestResolve(t *testing.T) {
	var n atomic.Int32
	n.Store(2)
	r := fakeNomad(t, &n)
	ctx := context.Background()
	got, err := r.Resolve(ctx, "demo-collector")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].Address != "127.0.0.1" || got[0].Port != 10000 || got[1].Port != 20000 || !got[0].Healthy {
		t.Fatalf("resolved %+v", got)
	}
	none, err := r.Resolve(ctx, "demo-missing")
	if err != nil || len(none) != 0 {
		t.Fatalf("missing service: %v, %v", none, err)
	}
	if err := r.Register(ctx, discovery.Service{Name: "x"}); !errors.Is(err, ErrReadOnly) {
		t.Errorf("register: %v", err)
	}
	nodes, err := r.ClientNodes(ctx)
	if err != nil || nodes != 2 {
		t.Errorf("ready client nodes %d, %v; want 2", nodes, err)
	}
}

func TestWatchReportsChanges(t *testing.T) {
	var n atomic.Int32
	n.Store(1)
	r := fakeNomad(t, &n)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	seen := make(chan int, 10)
	go r.Watch(ctx, "demo-collector", func(s []discovery.Service) { seen <- len(s) })
	if got := <-seen; got != 1 {
		t.Fatalf("first call: %d instances", got)
	}
	n.Store(3)
	select {
	case got := <-seen:
		if got != 3 {
			t.Fatalf("after the change: %d instances", got)
		}
	case <-ctx.Done():
		t.Fatal("no call after the change")
	}
	select {
	case got := <-seen:
		t.Fatalf("called again without a change (%d)", got)
	case <-time.After(100 * time.Millisecond):
	}
}
