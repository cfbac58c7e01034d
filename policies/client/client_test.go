package client

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/elk-project/elk/orchestrator/auth"
	"github.com/elk-project/elk/policies"
	"github.com/elk-project/elk/policies/engine"
	"github.com/elk-project/elk/policies/source"
)

type scaler struct{ n int }

func (s *scaler) Current(context.Context, string, string) (int, bool, error) { return s.n, false, nil }
func (s *scaler) Scale(_ context.Context, _, _ string, n int, _ policies.Decision) error {
	s.n = n
	return nil
}

const doc = `target: {app: demo, entity: collectors}
min: 1
max: 8
checks:
  - name: ingest
    metric: rate(elk_collector_agent_samples_total{type="flow"}[30s])
    strategy: {target-value: {target: 100, input: total}}
controls:
  stabilization: {up: 0s, down: 0s}
`

type headerRT map[string]string

func (h headerRT) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	for k, v := range h {
		r.Header.Set(k, v)
	}
	return http.DefaultTransport.RoundTrip(r)
}

func TestAPIRoundTrip(t *testing.T) {
	src := source.Func(func(context.Context, source.Query) (source.Sample, error) {
		return source.Sample{Value: 450, Time: time.Now()}, nil
	})
	eng, err := engine.New(engine.Config{}, engine.Deps{Scaler: &scaler{n: 2}, Source: src})
	if err != nil {
		t.Fatal(err)
	}
	// The author recorded is the token's name, whatever header a client sends.
	const secret = "alice-secret-0123456789"
	toks, err := auth.NewTokens(auth.Token{Name: "alice", Role: auth.RoleWrite, Secret: secret})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(auth.Middleware(auth.Options{Tokens: toks}, eng.Handler()))
	defer srv.Close()
	c := New(srv.URL, "mallory")
	c.HTTP = &http.Client{Transport: headerRT{"Authorization": "Bearer " + secret, engine.AuthorHeader: "mallory"}}
	ctx := context.Background()

	if _, err := c.Show(ctx, "demo/collectors"); !IsNotFound(err) {
		t.Fatalf("show before create: %v", err)
	}
	if v, err := c.Validate(ctx, "bad.yaml", []byte("max: 0\nchecks: []\n")); err != nil || v.Valid || len(v.Errors) < 2 {
		t.Fatalf("validate bad: %+v %v", v, err)
	}
	if v, err := c.Replace(ctx, "demo/collectors", []byte(doc)); err != nil || v.N != 1 || v.Author != "alice" {
		t.Fatalf("replace: %+v %v", v, err)
	}
	if _, err := c.Set(ctx, "demo/collectors", []string{"max=abc"}); err == nil || !strings.Contains(err.Error(), "not an integer") {
		t.Fatalf("bad set: %v", err)
	}
	if v, err := c.Set(ctx, "demo/collectors", []string{"max=6"}); err != nil || v.N != 2 {
		t.Fatalf("set: %+v %v", v, err)
	}
	if _, err := eng.EvaluateNow(ctx, "demo", "collectors"); err != nil {
		t.Fatal(err)
	}
	ex, err := c.Explain(ctx, "demo/collectors", 5)
	if err != nil || len(ex) != 1 || ex[0].Desired != 5 || ex[0].Action != policies.Up {
		t.Fatalf("explain: %+v %v", ex, err)
	}
	st, err := c.Pin(ctx, "demo/collectors", 3, time.Hour)
	if err != nil || st.Pin == nil || st.Pin.Count != 3 || st.Pin.Author != "alice" {
		t.Fatalf("pin: %+v %v", st, err)
	}
	if _, err := c.Pin(ctx, "demo/collectors", 30, time.Hour); err == nil {
		t.Fatal("pin above max accepted")
	}
	if st, err = c.Unpin(ctx, "demo/collectors"); err != nil || st.Pin != nil {
		t.Fatalf("unpin: %+v %v", st, err)
	}
	if st, err = c.Pause(ctx, "demo/collectors"); err != nil || !st.Paused {
		t.Fatalf("pause: %+v %v", st, err)
	}
	if st, err = c.Resume(ctx, "demo/collectors"); err != nil || st.Paused {
		t.Fatalf("resume: %+v %v", st, err)
	}
	h, err := c.History(ctx, "demo/collectors")
	if err != nil || len(h) != 2 || !strings.Contains(h[1].Diff, "+max: 6") {
		t.Fatalf("history: %+v %v", h, err)
	}
	list, err := c.List(ctx)
	if err != nil || len(list) != 1 || list[0].Policy != "demo/collectors" || list[0].Version != 2 {
		t.Fatalf("list: %+v %v", list, err)
	}
	if _, err := c.Show(ctx, "nonsense"); err == nil {
		t.Fatal("bad key accepted")
	}
}
