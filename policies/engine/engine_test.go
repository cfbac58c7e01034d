package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/elk-project/elk/policies"
	"github.com/elk-project/elk/policies/source"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// fakeScaler is an orchestrator whose count changes at once (or after
// a deployment the test ends).
type fakeScaler struct {
	mu        sync.Mutex
	count     int
	deploying bool
	calls     []int
	reasons   []string
	err       error
}

func (f *fakeScaler) Current(ctx context.Context, app, entity string) (int, bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.count, f.deploying, nil
}

func (f *fakeScaler) Scale(ctx context.Context, app, entity string, n int, d policies.Decision) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return f.err
	}
	f.calls = append(f.calls, n)
	f.reasons = append(f.reasons, d.Message())
	f.count = n
	return nil
}

func (f *fakeScaler) Calls() []int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]int(nil), f.calls...)
}

// fakeSource returns per-check values; a check mapped to an error fails.
type fakeSource struct {
	mu    sync.Mutex
	clock *ManualClock
	vals  map[string]float64
	errs  map[string]error
	at    map[string]time.Time // sample time; zero: now
}

func (f *fakeSource) set(check string, v float64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.vals[check] = v
}

func (f *fakeSource) fail(check string, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.errs[check] = err
}

func (f *fakeSource) Read(ctx context.Context, q source.Query) (source.Sample, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.errs[q.Check.Name]; err != nil {
		return source.Sample{}, err
	}
	v, ok := f.vals[q.Check.Name]
	if !ok {
		return source.Sample{}, source.ErrNoData
	}
	at := f.at[q.Check.Name]
	if at.IsZero() {
		at = f.clock.Now()
	}
	return source.Sample{Value: v, Time: at}, nil
}

type rig struct {
	t      *testing.T
	clock  *ManualClock
	scaler *fakeScaler
	src    *fakeSource
	eng    *Engine
	reg    *prometheus.Registry
}

func newRig(t *testing.T, policyYAML string, count int) *rig {
	t.Helper()
	clock := NewManualClock(t0)
	r := &rig{t: t, clock: clock, scaler: &fakeScaler{count: count},
		src: &fakeSource{clock: clock, vals: map[string]float64{}, errs: map[string]error{}, at: map[string]time.Time{}},
		reg: prometheus.NewRegistry()}
	eng, err := New(Config{}, Deps{Scaler: r.scaler, Source: r.src, Clock: clock, Metrics: r.reg})
	if err != nil {
		t.Fatal(err)
	}
	r.eng = eng
	p, err := policies.ParseBytes("test.yaml", []byte(policyYAML), true)
	if err != nil {
		t.Fatalf("policy: %v", err)
	}
	if _, err := eng.Apply(p, "test", "api"); err != nil {
		t.Fatal(err)
	}
	return r
}

// step advances the clock by d and evaluates once.
func (r *rig) step(d time.Duration) policies.Decision {
	r.t.Helper()
	r.clock.Advance(d)
	dec, err := r.eng.EvaluateNow(context.Background(), "demo", "collectors")
	if err != nil {
		r.t.Fatal(err)
	}
	return dec
}

// run evaluates every interval for the duration and returns the counts
// after each evaluation.
func (r *rig) run(total, interval time.Duration) []int {
	var out []int
	for el := time.Duration(0); el < total; el += interval {
		r.step(interval)
		r.scaler.mu.Lock()
		out = append(out, r.scaler.count)
		r.scaler.mu.Unlock()
	}
	return out
}

const base = `
target: {app: demo, entity: collectors}
min: 1
max: 10
evaluation_interval: 10s
checks:
  - name: ingest
    metric: rate(elk_collector_agent_samples_total{type="flow"}[30s])
    strategy: {target-value: {target: 100, input: total}}
`

func policy(controls string, extra ...string) string {
	s := base
	for _, e := range extra {
		s += e
	}
	if controls != "" {
		s += "controls:\n" + controls
	}
	return s
}

func TestStabilizationUpWaitsForTheWholeWindow(t *testing.T) {
	r := newRig(t, policy("  stabilization: {up: 30s, down: 5m}\n  tolerance: 0\n"), 2)
	r.src.set("ingest", 150)
	r.step(10 * time.Second) // seed: the policy has seen 2 since t0
	r.src.set("ingest", 600) // spike: 6 instances needed
	var firstScale time.Duration
	for i := 1; i <= 6; i++ {
		d := r.step(10 * time.Second)
		if d.Action == policies.Up && firstScale == 0 {
			firstScale = time.Duration(i) * 10 * time.Second
			if d.Desired != 6 {
				t.Errorf("scaled to %d, want 6", d.Desired)
			}
		}
		if d.Action == policies.None && d.Current < 6 && !d.Clipped(policies.ClipStabilization) {
			t.Errorf("held at step %d without saying stabilization: %+v", i, d)
		}
	}
	// The spike was seen at 20s; the up window of 30s ends at 50s.
	if firstScale != 40*time.Second {
		t.Errorf("first scale-up %v after the spike was read, want 40s (one up window after)", firstScale-0)
	}
}

func TestStabilizationDownShrinksToTheWindowMaximum(t *testing.T) {
	r := newRig(t, policy("  stabilization: {up: 0s, down: 60s}\n  tolerance: 0\n"), 8)
	r.src.set("ingest", 800)
	r.run(70*time.Second, 10*time.Second) // history full of 8
	// Load falls in two steps: 4 for 30s, then 2.
	r.src.set("ingest", 400)
	counts := r.run(30*time.Second, 10*time.Second)
	r.src.set("ingest", 200)
	counts = append(counts, r.run(70*time.Second, 10*time.Second)...)
	// Down window 60s: the first low reading is at 80s, so 4 is reached at
	// 140s and 2 at 170s, when the last "4" has left the window.
	want := []int{8, 8, 8, 8, 8, 8, 4, 4, 4, 2}
	if fmt.Sprint(counts) != fmt.Sprint(want) {
		t.Errorf("counts %v, want %v", counts, want)
	}
}

func TestOscillatingLoadDoesNotFlap(t *testing.T) {
	r := newRig(t, policy("  stabilization: {up: 20s, down: 2m}\n"), 3)
	var counts []int
	for i := 0; i < 60; i++ { // 10 minutes, load alternates every 10s
		if i%2 == 0 {
			r.src.set("ingest", 250)
		} else {
			r.src.set("ingest", 450)
		}
		counts = append(counts, r.run(10*time.Second, 10*time.Second)...)
	}
	if calls := r.scaler.Calls(); len(calls) > 1 {
		t.Errorf("flapping: %d scale calls %v", len(calls), calls)
	}
}

func TestMaxStep(t *testing.T) {
	tests := []struct {
		name     string
		controls string
		from     int
		load     float64
		want     []int
	}{
		{"up count", "  max_step: {up: {count: 2}}\n  stabilization: {up: 0s, down: 0s}\n", 2, 900, []int{4, 6, 8, 9}},
		{"up percent", "  max_step: {up: {percent: 50}}\n  stabilization: {up: 0s, down: 0s}\n", 2, 1000, []int{3, 5, 8, 10}},
		{"up larger of count and percent", "  max_step: {up: {count: 1, percent: 100}}\n  stabilization: {up: 0s, down: 0s}\n", 2, 1000, []int{4, 8, 10, 10}},
		{"down count", "  max_step: {down: {count: 3}}\n  stabilization: {up: 0s, down: 0s}\n", 10, 100, []int{7, 4, 1, 1}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := newRig(t, policy(tc.controls), tc.from)
			r.src.set("ingest", tc.load)
			got := r.run(40*time.Second, 10*time.Second)
			if fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Errorf("counts %v, want %v", got, tc.want)
			}
		})
	}
}

func TestTolerance(t *testing.T) {
	tests := []struct {
		load float64
		want int
	}{{540, 5}, {560, 6}, {460, 5}, {440, 5}, {300, 3}}
	for _, tc := range tests {
		t.Run(fmt.Sprint(tc.load), func(t *testing.T) {
			r := newRig(t, policy("  tolerance: 0.1\n  stabilization: {up: 0s, down: 0s}\n"), 5)
			r.src.set("ingest", tc.load)
			d := r.step(10 * time.Second)
			if d.Desired != tc.want {
				t.Errorf("load %v on 5 instances: desired %d, want %d (%s)", tc.load, d.Desired, tc.want, d.Message())
			}
		})
	}
}

func TestWarmupAfterScale(t *testing.T) {
	r := newRig(t, policy("  warmup: 30s\n  stabilization: {up: 0s, down: 0s}\n  tolerance: 0\n"), 2)
	r.src.set("ingest", 500)
	if d := r.step(10 * time.Second); d.Action != policies.Up || d.Desired != 5 {
		t.Fatalf("first decision %+v, want up to 5", d)
	}
	r.src.set("ingest", 900)
	for i := 0; i < 2; i++ {
		d := r.step(10 * time.Second)
		if d.Action != policies.None || !d.Clipped(policies.ClipWarmup) {
			t.Fatalf("during warm-up: %s", d.Message())
		}
	}
	if d := r.step(10 * time.Second); d.Action != policies.Up || d.Desired != 9 {
		t.Errorf("after warm-up: %s, want up to 9", d.Message())
	}
}

// TestWarmupRecommendationsStayOutOfStabilization: while new instances
// warm up the metric reads low (traffic is being redistributed); those
// recommendations are journaled but must not hold back the next step. Once
// the up window is covered by trusted readings, the count goes straight to
// the size they ask for.
func TestWarmupRecommendationsStayOutOfStabilization(t *testing.T) {
	r := newRig(t, policy("  stabilization: {up: 30s, down: 5m}\n  warmup: 30s\n  tolerance: 0\n"), 1)
	r.src.set("ingest", 200)
	var d policies.Decision
	for i := 0; i < 4; i++ { // 10s..40s: 2 wanted for a whole up window
		d = r.step(10 * time.Second)
	}
	if d.Action != policies.Up || d.Desired != 2 {
		t.Fatalf("at 40s: %s, want up 1→2", d.Message())
	}
	// The true load now needs 4, but during the warm-up the new collector
	// has not taken its share yet and the metric reads 300.
	r.src.set("ingest", 300)
	for _, at := range []string{"50s", "60s"} {
		d = r.step(10 * time.Second)
		if d.Action != policies.None || !d.Clipped(policies.ClipWarmup) || d.Recommended != 3 {
			t.Errorf("at %s (warm-up): %s, want hold, recommended 3, clipped by warmup", at, d.Message())
		}
	}
	// Warm-up over (70s): the metric reads the true load.
	r.src.set("ingest", 400)
	for _, at := range []string{"70s", "80s", "90s"} {
		d = r.step(10 * time.Second)
		if d.Action != policies.None || d.Clipped(policies.ClipWarmup) {
			t.Fatalf("at %s: %s, want hold until the up window holds only trusted readings", at, d.Message())
		}
	}
	// 100s: the up window [70s, 100s] holds only trusted readings of 4.
	d = r.step(10 * time.Second)
	if d.Action != policies.Up || d.Desired != 4 {
		t.Errorf("at 100s: %s, want up 2→4", d.Message())
	}
	if calls := r.scaler.Calls(); fmt.Sprint(calls) != "[2 4]" {
		t.Errorf("scale calls %v, want [2 4] (no intermediate step to 3)", calls)
	}
	// The warm-up decisions are in the journal.
	ds, err := r.eng.Explain("demo", "collectors", 10)
	if err != nil {
		t.Fatal(err)
	}
	warm := 0
	for _, d := range ds {
		if d.Clipped(policies.ClipWarmup) {
			warm++
			if d.Recommended != 3 || d.Desired != 2 {
				t.Errorf("journaled warm-up decision: %s, want recommended 3, desired 2", d.Message())
			}
		}
	}
	if warm != 2 {
		t.Errorf("%d journaled warm-up decisions, want 2", warm)
	}
}

// TestNoUntrustedRecommendationsAfterADeployment: evaluations during a
// deployment are skipped and the warm-up after it is not trusted; neither
// may hold back the first step on trusted readings.
func TestNoUntrustedRecommendationsAfterADeployment(t *testing.T) {
	r := newRig(t, policy("  stabilization: {up: 30s, down: 5m}\n  warmup: 20s\n  tolerance: 0\n"), 2)
	r.src.set("ingest", 200)
	r.run(40*time.Second, 10*time.Second) // 10s..40s: 2 is right
	r.scaler.deploying = true
	r.src.set("ingest", 300) // instances are replaced: partial readings
	r.run(30*time.Second, 10*time.Second)
	r.scaler.deploying = false
	// 80s, 90s: warm-up, still partial.
	for i := 0; i < 2; i++ {
		if d := r.step(10 * time.Second); d.Action != policies.None || !d.Clipped(policies.ClipWarmup) {
			t.Errorf("warm-up after the deployment: %s", d.Message())
		}
	}
	// 100s on: trusted readings of the true load, 6 instances.
	r.src.set("ingest", 600)
	counts := r.run(40*time.Second, 10*time.Second)
	// The up window [100s, 130s] is covered by trusted readings at 130s.
	if want := []int{2, 2, 2, 6}; fmt.Sprint(counts) != fmt.Sprint(want) {
		t.Errorf("counts from 100s %v, want %v", counts, want)
	}
	if calls := r.scaler.Calls(); fmt.Sprint(calls) != "[6]" {
		t.Errorf("scale calls %v, want [6]", calls)
	}
}

func TestNoEvaluationDuringDeploymentAndWarmupFromItsEnd(t *testing.T) {
	r := newRig(t, policy("  warmup: 20s\n  stabilization: {up: 0s, down: 0s}\n"), 2)
	r.src.set("ingest", 800)
	r.scaler.deploying = true
	for i := 0; i < 5; i++ {
		d := r.step(10 * time.Second)
		if !d.Skipped || !d.Clipped(policies.ClipDeploying) || d.Action != policies.None {
			t.Fatalf("evaluated during a deployment: %+v", d)
		}
	}
	r.scaler.deploying = false
	// The deployment just finished: warm-up runs 20s from now.
	if d := r.step(10 * time.Second); !d.Clipped(policies.ClipWarmup) || d.Action != policies.None {
		t.Errorf("right after deployment: %s, want warm-up", d.Message())
	}
	r.step(10 * time.Second)
	if d := r.step(10 * time.Second); d.Action != policies.Up || d.Desired != 8 {
		t.Errorf("after warm-up: %s", d.Message())
	}
	if len(r.scaler.Calls()) != 1 {
		t.Errorf("scale calls %v, want one", r.scaler.Calls())
	}
}

func TestMinMaxAlwaysEnforced(t *testing.T) {
	tests := []struct {
		name    string
		count   int
		load    float64
		dead    bool
		want    int
		clipped policies.Clip
	}{
		{"below min with no traffic", 0, 0, false, 1, policies.ClipMin},
		{"below min with a dead source", 0, 0, true, 1, policies.ClipMin},
		{"above max with a dead source", 14, 0, true, 10, policies.ClipMax},
		{"recommendation above max", 4, 5000, false, 10, policies.ClipMax},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := newRig(t, policy("  stabilization: {up: 0s, down: 0s}\n"), tc.count)
			r.src.set("ingest", tc.load)
			if tc.dead {
				r.src.fail("ingest", errors.New("connection refused"))
			}
			d := r.step(10 * time.Second)
			if d.Desired != tc.want || !d.Clipped(tc.clipped) {
				t.Errorf("got %s, want %d clipped by %s", d.Message(), tc.want, tc.clipped)
			}
		})
	}
}

func TestMaxCappedDoesNotLoop(t *testing.T) {
	r := newRig(t, policy("  stabilization: {up: 0s, down: 0s}\n"), 10)
	r.src.set("ingest", 5000) // wants 50, max is 10
	for i := 0; i < 20; i++ {
		d := r.step(10 * time.Second)
		if d.Action != policies.None || d.Desired != 10 || !d.Clipped(policies.ClipMax) {
			t.Fatalf("evaluation %d: %s", i, d.Message())
		}
	}
	if calls := r.scaler.Calls(); len(calls) != 0 {
		t.Errorf("no-op scale calls while capped by max: %v", calls)
	}
	if got := metricValue(t, r.reg, "elk_policy_clipped_by", "reason", "max"); got != 1 {
		t.Errorf("elk_policy_clipped_by{reason=max} = %v, want 1", got)
	}
}

func TestBoundsStrategy(t *testing.T) {
	tests := []struct {
		name         string
		lower, upper string
		count        int
		avg          float64
		want         int
	}{
		{"hot", "5", "10", 4, 15, 6},
		{"ok", "5", "10", 4, 7, 4},
		{"cold shrinks to where the metric hits lower", "5", "10", 10, 3, 6},
		{"never shrinks into hot", "5.6", "5.7", 4, 2.75, 2},
		{"lower 0 idle shrinks to min", "0", "10", 6, 0, 1},
		{"lower 0 with load holds", "0", "10", 6, 0.5, 6},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := strings.Replace(policy("  stabilization: {up: 0s, down: 0s}\n"),
				"{target-value: {target: 100, input: total}}",
				"{bounds: {lower: "+tc.lower+", upper: "+tc.upper+", input: average}}", 1)
			r := newRig(t, p, tc.count)
			r.src.set("ingest", tc.avg)
			d := r.step(10 * time.Second)
			if d.Desired != tc.want {
				t.Errorf("%d instances at %v each: desired %d, want %d (%s)", tc.count, tc.avg, d.Desired, tc.want, d.Message())
			}
		})
	}
}

func TestThresholdStrategy(t *testing.T) {
	p := strings.Replace(policy("  stabilization: {up: 0s, down: 0s}\n"),
		"{target-value: {target: 100, input: total}}",
		"{threshold: {upper: 100, lower: 10, add: 50%, remove: 1}}", 1)
	r := newRig(t, p, 4)
	r.src.set("ingest", 500)
	if d := r.step(10 * time.Second); d.Desired != 6 {
		t.Errorf("above upper: %s, want 6", d.Message())
	}
	r.src.set("ingest", 50)
	if d := r.step(10 * time.Second); d.Desired != 6 {
		t.Errorf("within: %s, want 6", d.Message())
	}
	r.src.set("ingest", 5)
	if d := r.step(10 * time.Second); d.Desired != 5 {
		t.Errorf("below lower: %s, want 5", d.Message())
	}
}

func TestCombination(t *testing.T) {
	two := policy("  stabilization: {up: 0s, down: 0s}\n  tolerance: 0\n", `  - name: queue
    metric: q
    strategy: {target-value: {target: 10, input: total}}
`)
	tests := []struct {
		name          string
		ingest, queue float64
		want          int
	}{
		{"largest up wins", 700, 50, 7},
		{"up beats down", 100, 50, 5},
		{"none beats down", 100, 40, 4},
		{"both down: the smaller reduction", 200, 30, 3},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := newRig(t, two, 4)
			r.src.set("ingest", tc.ingest)
			r.src.set("queue", tc.queue)
			if d := r.step(10 * time.Second); d.Desired != tc.want {
				t.Errorf("desired %d, want %d (%s)", d.Desired, tc.want, d.Message())
			}
		})
	}
}

func TestDeadSourceHoldsAndNeverScalesDown(t *testing.T) {
	two := policy("  stabilization: {up: 0s, down: 0s}\n", `  - name: queue
    query: sum(elasticsearch_thread_pool_queue_count)
    strategy: {target-value: {target: 10, input: total}}
`)
	r := newRig(t, two, 6)
	r.src.set("ingest", 100) // wants 1
	r.src.fail("queue", errors.New("dial tcp 127.0.0.1:9090: connection refused"))
	for i := 0; i < 10; i++ {
		d := r.step(10 * time.Second)
		if d.Desired != 6 || d.Action != policies.None || !d.Clipped(policies.ClipSourceDown) {
			t.Fatalf("with a dead source: %s", d.Message())
		}
	}
	st, _ := r.eng.Status("demo", "collectors")
	if !strings.Contains(st.SourceDown, "connection refused") {
		t.Errorf("status does not report the dead source: %+v", st)
	}
	if got := metricValue(t, r.reg, "elk_policy_source_errors_total", "source", "prometheus"); got != 10 {
		t.Errorf("source errors metric %v, want 10", got)
	}
	// Up is still possible through the live check.
	r.src.set("ingest", 900)
	if d := r.step(10 * time.Second); d.Desired != 9 {
		t.Errorf("scale-up through the live check: %s", d.Message())
	}
	// Source back: down resumes.
	r.src.fail("queue", nil)
	r.src.set("queue", 5)
	r.src.set("ingest", 100)
	if d := r.step(10 * time.Second); d.Desired != 1 {
		t.Errorf("after recovery: %s", d.Message())
	}
}

func TestMissingData(t *testing.T) {
	tests := []struct {
		name      string
		onMissing string
		stale     bool
		other     float64
		want      int
	}{
		{"up_only lets another check scale up", "up_only", false, 900, 9},
		{"up_only blocks scale down", "up_only", false, 100, 5},
		{"hold blocks scale up too", "hold", false, 900, 5},
		{"fallback votes its count", "fallback 7", false, 100, 7},
		{"stale sample counts as missing", "hold", true, 900, 5},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			two := policy("  stabilization: {up: 0s, down: 0s}\n  tolerance: 0\n", `  - name: queue
    metric: q
    strategy: {target-value: {target: 10, input: total}}
    max_staleness: 30s
    on_missing: `+tc.onMissing+"\n")
			r := newRig(t, two, 5)
			r.src.set("ingest", tc.other)
			if tc.stale {
				r.src.set("queue", 10)
				r.src.at["queue"] = t0.Add(-time.Minute)
			}
			d := r.step(10 * time.Second)
			if d.Desired != tc.want || !d.Clipped(policies.ClipMissingData) {
				t.Errorf("desired %d, want %d clipped by missing data (%s)", d.Desired, tc.want, d.Message())
			}
			if tc.stale && !d.Readings[1].Stale {
				t.Errorf("reading not marked stale: %+v", d.Readings[1])
			}
		})
	}
}

func TestPinPauseResume(t *testing.T) {
	r := newRig(t, policy("  stabilization: {up: 0s, down: 0s}\n"), 3)
	r.src.set("ingest", 300)
	if _, err := r.eng.PinCount("demo", "collectors", 11, time.Hour, "ops"); !errors.Is(err, ErrInvalid) {
		t.Errorf("pin above max: %v", err)
	}
	if _, err := r.eng.PinCount("demo", "collectors", 7, time.Hour, "ops"); err != nil {
		t.Fatal(err)
	}
	if d := r.step(10 * time.Second); d.Desired != 7 || !d.Clipped(policies.ClipPinned) {
		t.Errorf("pinned: %s", d.Message())
	}
	r.clock.Advance(time.Hour)
	if d := r.step(10 * time.Second); d.Desired != 3 || d.Clipped(policies.ClipPinned) {
		t.Errorf("after the pin expired: %s", d.Message())
	}
	if err := r.eng.Pause("demo", "collectors", "ops"); err != nil {
		t.Fatal(err)
	}
	r.src.set("ingest", 900)
	if d := r.step(10 * time.Second); d.Action != policies.None || !d.Clipped(policies.ClipPaused) || d.Desired != 3 {
		t.Errorf("paused: %s", d.Message())
	}
	_ = r.eng.Resume("demo", "collectors", "ops")
	if d := r.step(10 * time.Second); d.Desired != 9 {
		t.Errorf("resumed: %s", d.Message())
	}
}

func TestEditMidFlight(t *testing.T) {
	r := newRig(t, policy("  stabilization: {up: 0s, down: 0s}\n"), 4)
	r.src.set("ingest", 800)
	if d := r.step(10 * time.Second); d.Desired != 8 {
		t.Fatalf("before edit: %s", d.Message())
	}
	// A bad edit is rejected and the policy keeps running unchanged.
	if _, err := r.eng.Set("demo", "collectors", "ops", "max=0"); !errors.Is(err, ErrInvalid) {
		t.Fatalf("bad edit: %v", err)
	}
	if _, err := r.eng.Replace("demo", "collectors", "ops", []byte("max: [")); !errors.Is(err, ErrInvalid) {
		t.Fatalf("bad document: %v", err)
	}
	v, err := r.eng.Set("demo", "collectors", "ops", "max=6")
	if err != nil {
		t.Fatal(err)
	}
	if v.N != 2 || v.Author != "ops" || !strings.Contains(v.Diff, "-max: 10\n+max: 6") {
		t.Errorf("version %+v", v)
	}
	d := r.step(10 * time.Second)
	if d.Desired != 6 || d.Action != policies.Down || !d.Clipped(policies.ClipMax) || d.Version != 2 {
		t.Errorf("after edit: %s (version %d)", d.Message(), d.Version)
	}
	h, _ := r.eng.History("demo", "collectors")
	if len(h) != 2 {
		t.Errorf("history has %d versions, want 2", len(h))
	}
	ex, _ := r.eng.Explain("demo", "collectors", 1)
	if len(ex) != 1 || ex[0].Version != 2 {
		t.Errorf("explain: %+v", ex)
	}
}

func TestScaleReasonReachesTheScaler(t *testing.T) {
	r := newRig(t, policy("  stabilization: {up: 0s, down: 0s}\n  max_step: {up: {count: 2}}\n"), 2)
	r.src.set("ingest", 900)
	r.step(10 * time.Second)
	if len(r.scaler.reasons) != 1 {
		t.Fatalf("reasons %v", r.scaler.reasons)
	}
	msg := r.scaler.reasons[0]
	for _, want := range []string{"scale up 2→4", "ingest: 900", "recommended 9", "max_step"} {
		if !strings.Contains(msg, want) {
			t.Errorf("reason %q lacks %q", msg, want)
		}
	}
}

func TestStandbyDoesNotAct(t *testing.T) {
	lock := &fakeLock{held: make(chan struct{})}
	clock := NewManualClock(t0)
	sc := &fakeScaler{count: 2}
	src := &fakeSource{clock: clock, vals: map[string]float64{"ingest": 900}, errs: map[string]error{}, at: map[string]time.Time{}}
	eng, err := New(Config{}, Deps{Scaler: sc, Source: src, Clock: clock, Lock: lock})
	if err != nil {
		t.Fatal(err)
	}
	p, _ := policies.ParseBytes("p", []byte(policy("  stabilization: {up: 0s, down: 0s}\n")), true)
	if _, err := eng.Apply(p, "t", "api"); err != nil {
		t.Fatal(err)
	}
	d, _ := eng.EvaluateNow(context.Background(), "demo", "collectors")
	if d.Action != policies.None || !d.Clipped(policies.ClipStandby) {
		t.Errorf("standby acted: %s", d.Message())
	}
	eng.setLeader(true)
	d, _ = eng.EvaluateNow(context.Background(), "demo", "collectors")
	if d.Action != policies.Up {
		t.Errorf("leader did not act: %s", d.Message())
	}
}

// fakeLock is held by whoever acquires it first; lose() takes it away.
type fakeLock struct {
	mu     sync.Mutex
	cancel context.CancelFunc
	held   chan struct{}
}

func (l *fakeLock) Acquire(ctx context.Context) (context.Context, error) {
	select {
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-l.held:
	}
	held, cancel := context.WithCancel(ctx)
	l.mu.Lock()
	l.cancel = cancel
	l.mu.Unlock()
	return held, nil
}

func (l *fakeLock) lose() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.cancel != nil {
		l.cancel()
	}
}

func (l *fakeLock) Release(ctx context.Context) error { return nil }

func TestOnlyTheLeaderActs(t *testing.T) {
	lock := &fakeLock{held: make(chan struct{})}
	sc := &fakeScaler{count: 2}
	var load atomic.Int64
	load.Store(900)
	src := source.Func(func(context.Context, source.Query) (source.Sample, error) {
		return source.Sample{Value: float64(load.Load()), Time: time.Now()}, nil
	})
	eng, err := New(Config{}, Deps{Scaler: sc, Source: src, Lock: lock})
	if err != nil {
		t.Fatal(err)
	}
	p, _ := policies.ParseBytes("p", []byte(strings.Replace(policy("  stabilization: {up: 0s, down: 0s}\n"), "10s", "100ms", 1)), true)
	if _, err := eng.Apply(p, "t", "api"); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { _ = eng.Run(ctx) }()
	time.Sleep(400 * time.Millisecond)
	if c := sc.Calls(); len(c) != 0 {
		t.Fatalf("standby scaled: %v", c)
	}
	if ex, _ := eng.Explain("demo", "collectors", 1); len(ex) != 1 || !ex[0].Clipped(policies.ClipStandby) {
		t.Errorf("standby decision: %+v", ex)
	}
	lock.held <- struct{}{} // the other replica died: this one takes over
	waitFor(t, "the leader to scale", func() bool { return len(sc.Calls()) == 1 })
	lock.lose()
	waitFor(t, "standby after losing the lock", func() bool { return !eng.Leader() })
	load.Store(300)
	time.Sleep(400 * time.Millisecond)
	if c := sc.Calls(); len(c) != 1 {
		t.Errorf("acted after losing the lock: %v", c)
	}
}

func TestNonFiniteValueIsMissingData(t *testing.T) {
	for _, tc := range []struct {
		name string
		v    float64
	}{
		{"NaN", math.NaN()},
		{"+Inf", math.Inf(1)},
		{"-Inf", math.Inf(-1)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newRig(t, `
target: {app: demo, entity: collectors}
min: 1
max: 10
checks:
  - name: low
    query: low
    strategy: {target-value: {target: 100}}
  - name: bad
    query: bad
    on_missing: hold
    strategy: {target-value: {target: 100}}
controls: {stabilization: {down: 0s}}
`, 4)
			r.src.set("low", 10)
			r.src.set("bad", tc.v)
			d := r.step(10 * time.Second)
			if d.Desired != 4 || len(r.scaler.Calls()) != 0 {
				t.Fatalf("want hold at 4, got desired %d, calls %v: %s", d.Desired, r.scaler.Calls(), d.Message())
			}
			if !d.Readings[1].Missing {
				t.Errorf("reading of %v not missing: %+v", tc.v, d.Readings[1])
			}
			rec := httptest.NewRecorder()
			r.eng.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/v1/policies", nil))
			var list []any
			if rec.Code != 200 || json.Unmarshal(rec.Body.Bytes(), &list) != nil || len(list) != 1 {
				t.Errorf("GET /v1/policies: %d %q", rec.Code, rec.Body.String())
			}
		})
	}
}
