package engine

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/elk-project/elk/orchestrator/kv"
	"github.com/elk-project/elk/policies"
	"github.com/elk-project/elk/policies/source"
)

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

const fileDoc = `target: {app: demo, entity: collectors}
min: 1
max: MAX
evaluation_interval: 100ms
checks:
  - name: ingest
    metric: rate(elk_collector_agent_samples_total{type="flow"}[30s])
    strategy: {target-value: {target: 100}}
controls:
  stabilization: {up: 0s, down: 0s}
`

func TestRunWatchesPolicyFilesAndRejectsBadEdits(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "collectors.yaml")
	write := func(s string) {
		if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(strings.Replace(fileDoc, "MAX", "10", 1))
	sc := &fakeScaler{count: 2}
	src := source.Func(func(context.Context, source.Query) (source.Sample, error) {
		return source.Sample{Value: 900, Time: time.Now()}, nil
	})
	eng, err := New(Config{Dir: dir}, Deps{Scaler: sc, Source: src})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- eng.Run(ctx) }()
	waitFor(t, "scale to 9", func() bool { c := sc.Calls(); return len(c) > 0 && c[len(c)-1] == 9 })

	// Edited mid-flight: the running engine picks up max 5 and obeys it.
	write(strings.Replace(fileDoc, "MAX", "5", 1))
	waitFor(t, "scale down to the new max", func() bool { c := sc.Calls(); return c[len(c)-1] == 5 })
	// A broken file is rejected; the running policy stays at version 2.
	write("max: [\n")
	time.Sleep(500 * time.Millisecond)
	if p, v, _ := eng.Policy("demo", "collectors"); v != 2 || p.Max != 5 {
		t.Errorf("after a bad file: version %d max %d, want version 2 max 5", v, p.Max)
	}
	// An API edit is written back to the file.
	if _, err := eng.Set("demo", "collectors", "ops", "max=7"); err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(path)
	if !strings.Contains(string(data), "max: 7") {
		t.Errorf("file not updated by the API edit:\n%s", data)
	}
	// Removing the file removes the policy.
	os.Remove(path)
	waitFor(t, "policy removal", func() bool { _, _, err := eng.Policy("demo", "collectors"); return errors.Is(err, ErrNotFound) })
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Errorf("Run returned %v", err)
	}
}

type memKV struct {
	mu sync.Mutex
	m  map[string][]byte
}

func (k *memKV) Get(_ context.Context, key string) ([]byte, uint64, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	v, ok := k.m[key]
	if !ok {
		return nil, 0, kv.ErrNotFound
	}
	return v, 1, nil
}
func (k *memKV) Put(_ context.Context, key string, v []byte) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.m[key] = v
	return nil
}
func (k *memKV) CAS(ctx context.Context, key string, v []byte, _ uint64) (bool, error) {
	return true, k.Put(ctx, key, v)
}
func (k *memKV) Delete(_ context.Context, key string) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	delete(k.m, key)
	return nil
}
func (k *memKV) List(_ context.Context, prefix string) (map[string][]byte, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	out := map[string][]byte{}
	for key, v := range k.m {
		if strings.HasPrefix(key, prefix) {
			out[key] = v
		}
	}
	return out, nil
}

func TestKVPersistsAndWatchesPolicies(t *testing.T) {
	kv := &memKV{m: map[string][]byte{}}
	src := source.Func(func(context.Context, source.Query) (source.Sample, error) { return source.Sample{}, source.ErrNoData })
	a, err := New(Config{KVPoll: 50 * time.Millisecond}, Deps{Scaler: &fakeScaler{count: 1}, Source: src, KV: kv})
	if err != nil {
		t.Fatal(err)
	}
	p, _ := policies.ParseBytes("p", []byte(strings.Replace(fileDoc, "MAX", "10", 1)), true)
	if _, err := a.Apply(p, "alice", "api"); err != nil {
		t.Fatal(err)
	}
	if _, ok := kv.m["elk/policies/demo/collectors"]; !ok {
		t.Fatal("policy not persisted to KV")
	}
	// A second server (a restart or a standby) loads it and follows edits.
	b, _ := New(Config{KVPoll: 50 * time.Millisecond}, Deps{Scaler: &fakeScaler{count: 1}, Source: src, KV: kv})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { _ = b.Run(ctx) }()
	waitFor(t, "policy from KV", func() bool { _, _, err := b.Policy("demo", "collectors"); return err == nil })
	if _, err := a.Set("demo", "collectors", "alice", "max=4"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "edit from KV", func() bool { p, _, _ := b.Policy("demo", "collectors"); return p.Max == 4 })
	// Operator overrides reach the other server too.
	if _, err := a.PinCount("demo", "collectors", 3, time.Hour, "alice"); err != nil {
		t.Fatal(err)
	}
	if err := a.Pause("demo", "collectors", "alice"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "pin and pause from KV", func() bool {
		st, _ := b.Status("demo", "collectors")
		return st.Paused && st.Pin != nil && st.Pin.Count == 3 && st.Pin.Author == "alice"
	})
	_ = a.Resume("demo", "collectors", "alice")
	_, _ = a.PinCount("demo", "collectors", 0, 0, "alice")
	waitFor(t, "resume and unpin from KV", func() bool {
		st, _ := b.Status("demo", "collectors")
		return !st.Paused && st.Pin == nil
	})
	// A bad document in KV is rejected; the running policy stays.
	_ = kv.Put(ctx, "elk/policies/demo/collectors", []byte("max: oops\n"))
	time.Sleep(200 * time.Millisecond)
	if p, _, _ := b.Policy("demo", "collectors"); p.Max != 4 {
		t.Errorf("bad KV document changed the policy: max %d", p.Max)
	}
}
