package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/nomad/api"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/elk-project/elk/blueprints"
	"github.com/elk-project/elk/orchestrator/catalog"
	"github.com/elk-project/elk/orchestrator/target"
	"github.com/elk-project/elk/orchestrator/target/nomad"
	"github.com/elk-project/elk/policies"
	"github.com/elk-project/elk/policies/engine"
	"github.com/elk-project/elk/policies/source"
	promsource "github.com/elk-project/elk/policies/source/prometheus"
	"github.com/elk-project/elk/policies/source/scrape"
)

// nomadScaler lets the policy engine read and change a job's count on the
// nomad target, passing each decision's message and meta on to Nomad's
// job scale API, and remembers what it sent.
type nomadScaler struct {
	tg *nomad.Target

	mu   sync.Mutex
	sent []sentScale
}

type sentScale struct {
	at      time.Time
	count   int
	message string
}

func (s *nomadScaler) Current(ctx context.Context, app, entity string) (int, bool, error) {
	st, err := s.tg.Status(ctx, app, entity)
	if err != nil {
		return 0, false, err
	}
	return st.Desired, st.Deploying, nil
}

func (s *nomadScaler) Scale(ctx context.Context, app, entity string, count int, d policies.Decision) error {
	msg := d.Message()
	if err := s.tg.Scale(ctx, app, entity, target.ScaleRequest{Count: count, Message: msg, Meta: d.Meta()}); err != nil {
		return err
	}
	s.mu.Lock()
	s.sent = append(s.sent, sentScale{time.Now(), count, msg})
	s.mu.Unlock()
	return nil
}

func (s *nomadScaler) requests() []sentScale {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]sentScale(nil), s.sent...)
}

// metricsAddrs lists the host:port of the metrics endpoints of the entity's
// running allocations (with pending ones too: their ports are assigned at
// placement), from the nomad target's status (no service registry needed).
func metricsAddrs(ctx context.Context, tg *nomad.Target, app, entity string, pending bool) ([]string, error) {
	st, err := tg.Status(ctx, app, entity)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, in := range st.Instances {
		p := in.Ports["metrics"]
		if p == 0 || !(in.State == "running" || pending && in.State == "pending") {
			continue
		}
		host := in.Addr
		if host == "" || host == "0.0.0.0" {
			host = "127.0.0.1"
		}
		out = append(out, net.JoinHostPort(host, strconv.Itoa(p)))
	}
	sort.Strings(out)
	return out, nil
}

// TestIntegrationNomadSpike runs the spike scenario of
// TestSpikeScalesCollectors against a real Nomad agent: the collector entity
// runs as a Nomad job (raw_exec, the elk binary built by TestMain), the
// policy engine scales it through the nomad target (the job scale API, with
// the decision's message and meta), and the ingest rate is read from the
// collectors' allocations, by elk's built-in scraper or by the Prometheus
// at ELK_TEST_PROMETHEUS through file_sd targets written to
// ELK_TEST_PROMETHEUS_TARGETS. It needs no Consul (the collectors register
// in Nomad's own service registry) and takes about two minutes.
func TestIntegrationNomadSpike(t *testing.T) {
	if os.Getenv("NOMAD_ADDR") == "" {
		t.Skip("NOMAD_ADDR is not set: skipping the spike scenario on Nomad (start `nomad agent -dev` with raw_exec enabled and set NOMAD_ADDR)")
	}
	if testing.Short() {
		t.Skip("the spike scenario on Nomad takes about two minutes")
	}
	client, err := api.NewClient(api.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	self, err := client.Agent().Self()
	if err != nil {
		t.Fatalf("NOMAD_ADDR=%s does not answer: %v", os.Getenv("NOMAD_ADDR"), err)
	}
	if m := self.Member; m.Name != "" {
		t.Logf("Nomad agent %s at %s, version %s", m.Name, os.Getenv("NOMAD_ADDR"), m.Tags["build"])
	}
	dir := t.TempDir()
	if keep := os.Getenv("ELK_POLICY_E2E_STATE"); keep != "" {
		dir = keep
	}
	logf, err := os.Create(filepath.Join(dir, "elk.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	log := slog.New(slog.NewTextHandler(logf, &slog.HandlerOptions{Level: slog.LevelDebug}))

	app := fmt.Sprintf("nspike%d", os.Getpid()%100000)
	jobID := nomad.JobID(app, "collector")

	// The metric source: Prometheus when the dev services run (make test),
	// else the built-in scraper.
	prom, sdDir := os.Getenv("ELK_TEST_PROMETHEUS"), os.Getenv("ELK_TEST_PROMETHEUS_TARGETS")
	if os.Getenv("ELK_POLICY_E2E_BUILTIN") == "1" || sdDir == "" {
		prom = ""
	}
	check := fmt.Sprintf(`metric: rate(elk_collector_agent_samples_total{type="flow"}[%s])`, rateWindow)
	via := "elk's built-in scraper of the allocations' metrics ports"
	// Warm-up covers how long the metric source takes to see a new
	// collector once its deployment is healthy (the traffic moves to it
	// through SO_REUSEPORT): the scraper reads the target's status every
	// second; Prometheus rereads the file_sd file (up to 5s on the dev
	// services), scrapes every 2s and needs two samples for rate(), and the
	// up window must then see trusted values.
	warmup := 4 * time.Second
	if prom != "" {
		warmup = 10*time.Second + upWindow
		check = fmt.Sprintf(`query: sum(rate(elk_collector_agent_samples_total{type="flow",elk_e2e=%q}[%s]))`, app, rateWindow)
		via = "Prometheus " + prom + " (file_sd in " + sdDir + ")"
	}

	port := freeUDPPort(t)
	tmpl, err := os.ReadFile("testdata/nomad-spike.yaml")
	if err != nil {
		t.Fatal(err)
	}
	bp := strings.NewReplacer(
		"@APP@", app,
		"@PORT@", strconv.Itoa(port),
		"@OUTPUT@", filepath.Join(dir, "flows-${instance}.ndjson"),
		"@INTERVAL@", interval.String(),
		"@CHECK@", check,
		"@PER_COLLECTOR@", strconv.Itoa(perCollector),
		"@UP@", upWindow.String(),
		"@DOWN@", downWindow.String(),
		"@WARMUP@", warmup.String(),
	).Replace(string(tmpl))
	bpApp, err := blueprints.Parse("testdata/nomad-spike.yaml", []byte(bp))
	if err != nil {
		t.Fatalf("blueprint:\n%v", err)
	}
	specs, err := catalog.Specs(bpApp, catalog.Options{Target: blueprints.TargetNomad, ElkBinary: elkBin,
		ServiceHost: func(string, string) string { return "127.0.0.1" }})
	if err != nil {
		t.Fatal(err)
	}
	if len(specs) != 1 || len(bpApp.Entity("collector").Scaling) != 1 {
		t.Fatalf("the blueprint should have one collector entity with one policy")
	}
	tg, err := nomad.New(nomad.Config{Client: client, PollInterval: 250 * time.Millisecond, Logger: log.With("component", "nomad"),
		Jobs: nomad.JobOptions{ServiceProvider: "nomad"}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()

	// Deploy the collector job and clean it up (purged) at the end.
	t.Cleanup(func() {
		rctx, c := context.WithTimeout(context.Background(), 30*time.Second)
		defer c()
		if err := tg.Remove(rctx, app, "collector"); err != nil {
			t.Errorf("remove the collector job: %v", err)
		}
		if _, _, err := client.Jobs().Info(jobID, nil); err == nil {
			t.Errorf("job %s still registered after deregister with purge", jobID)
		}
	})
	deployed := time.Now()
	if err := tg.Apply(ctx, specs[0]); err != nil {
		t.Fatalf("register the collector job: %v", err)
	}
	wctx, wc := context.WithTimeout(ctx, time.Minute)
	err = tg.Wait(wctx, app, "collector")
	wc()
	if err != nil {
		t.Fatalf("collector job: %v", err)
	}
	t.Logf("job %s registered and healthy in %s (collector from %s, UDP %d shared)", jobID, time.Since(deployed).Round(100*time.Millisecond), elkBin, port)

	// The metric source.
	mux := source.Mux{}
	if prom != "" {
		ps, err := promsource.New(prom)
		if err != nil {
			t.Fatal(err)
		}
		mux.Query = ps
		sd := filepath.Join(sdDir, "elk-policy-e2e-"+app+".json")
		sdCtx, stopSD := context.WithCancel(ctx)
		sdDone := make(chan struct{})
		defer func() { stopSD(); <-sdDone; os.Remove(sd) }()
		go func() {
			defer close(sdDone)
			for ctx := sdCtx; ctx.Err() == nil; {
				addrs, err := metricsAddrs(ctx, tg, app, "collector", true)
				if err == nil {
					data, _ := json.Marshal([]map[string]any{{"targets": append([]string{}, addrs...),
						"labels": map[string]string{"job": "elk-policy-e2e", "elk_e2e": app}}})
					os.WriteFile(sd+".tmp", data, 0o644)
					os.Rename(sd+".tmp", sd)
				}
				select {
				case <-ctx.Done():
				case <-time.After(500 * time.Millisecond):
				}
			}
		}()
	} else {
		scr := scrape.New(scrape.Config{Interval: time.Second}, scrape.TargetsFunc(func(ctx context.Context, app, entity string) ([]string, error) {
			hosts, err := metricsAddrs(ctx, tg, app, entity, false)
			for i, h := range hosts {
				hosts[i] = "http://" + h + "/metrics"
			}
			return hosts, err
		}), nil, log.With("component", "scrape"))
		mux.Metric = scr
		go scr.Run(ctx)
	}

	// The real policy engine with the nomad target as its Scaler.
	scaler := &nomadScaler{tg: tg}
	eng, err := engine.New(engine.Config{}, engine.Deps{Scaler: scaler, Source: mux, Logger: log.With("component", "policy"),
		Metrics: prometheus.NewRegistry()})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := eng.Apply(bpApp.Entity("collector").Scaling[0], "blueprint "+app, "blueprint"); err != nil {
		t.Fatalf("apply the policy: %v", err)
	}
	engDone := make(chan struct{})
	ectx, stopEngine := context.WithCancel(ctx)
	go func() { eng.Run(ectx); close(engDone) }()
	defer func() { stopEngine(); <-engDone }()

	// Traffic: the spike scenario at the collectors' shared port.
	total := spikeAt + spikeFor + downWindow + 50*time.Second
	agent := exec.CommandContext(ctx, elkBin, "agent", "--target", fmt.Sprintf("127.0.0.1:%d", port),
		"--rate", fmt.Sprint(baseRate), "--scenario", "spike", "--spike-factor", fmt.Sprint(spikeFactor),
		"--spike-at", spikeAt.String(), "--spike-for", spikeFor.String(), "--spike-every", "24h", "--duration", total.String())
	agentLog, _ := os.Create(filepath.Join(dir, "agent.log"))
	defer agentLog.Close()
	agent.Stdout, agent.Stderr = agentLog, agentLog
	if err := agent.Start(); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	defer func() { agent.Process.Kill(); agent.Wait() }()

	type row struct {
		at               time.Duration
		rate             float64
		desired, count   int
		running, healthy int
		deploying        bool
		action           policies.Direction
		why              string
		evaluated        time.Time
		missing          bool
	}
	var rows []row
	needed := (baseRate*spikeFactor + perCollector - 1) / perCollector
	spikeEnd := spikeAt + spikeFor
	var seen, counted, reached, back time.Duration // metric asks for needed; job count; running allocations; back to 1
	var lastEval time.Time
	for time.Since(start) < total && ctx.Err() == nil {
		time.Sleep(time.Second)
		el := time.Since(start)
		st, err := tg.Status(ctx, app, "collector")
		if err != nil {
			t.Logf("%6s status: %v", el.Round(time.Second), err)
			continue
		}
		r := row{at: el, count: st.Desired, running: st.Running, healthy: st.Healthy, deploying: st.Deploying}
		if ds, err := eng.Explain(app, "collector", 1); err == nil && len(ds) == 1 {
			d := ds[0]
			r.desired, r.action, r.why, r.evaluated = d.Desired, d.Action, d.Message(), d.Time
			r.missing = true // not read (e.g. skipped during a deployment)
			if len(d.Readings) > 0 {
				r.rate, r.missing = d.Readings[0].Value, d.Readings[0].Missing
			}
			if d.Time.Equal(lastEval) {
				r.why = "" // no new evaluation since the last row
			}
			lastEval = d.Time
		}
		rows = append(rows, r)
		if seen == 0 && el > spikeAt && !r.missing && r.rate > float64((needed-1)*perCollector) {
			seen = el
		}
		if counted == 0 && el > spikeAt && st.Desired >= needed {
			counted = el
		}
		if reached == 0 && el > spikeAt && st.Desired >= needed && st.Running >= needed {
			reached = el
		}
		if reached != 0 && back == 0 && el > spikeEnd && st.Desired == 1 && st.Running == 1 {
			back = el
			break
		}
	}
	agent.Process.Kill()
	agent.Wait()

	t.Logf("timeline (nomad target, job %s; metric via %s; spike %d→%d samples/s at %s for %s; target %d per collector; evaluation every %s, up window %s, down window %s, warm-up %s):",
		jobID, via, baseRate, baseRate*spikeFactor, spikeAt, spikeFor, perCollector, interval, upWindow, downWindow, warmup)
	t.Logf("%6s %10s %8s %6s %8s %8s %6s  %s", "time", "rate/s", "desired", "count", "running", "healthy", "deploy", "decision (new evaluations)")
	for _, r := range rows {
		rate := fmt.Sprintf("%.0f", r.rate)
		if r.missing {
			rate = "-"
		}
		dep := ""
		if r.deploying {
			dep = "yes"
		}
		t.Logf("%6s %10s %8d %6d %8d %8d %6s  %s", r.at.Round(time.Second), rate, r.desired, r.count, r.running, r.healthy, dep, r.why)
	}
	sent := scaler.requests()
	t.Logf("scale requests sent through the nomad target:")
	for _, s := range sent {
		t.Logf("  %6s count %d: %s", s.at.Sub(start).Round(time.Second), s.count, s.message)
	}

	// Assertions on the count.
	if reached == 0 {
		t.Fatalf("the collector job never ran %d allocations during the spike", needed)
	}
	// The same bound as the local test for the count (the rate window
	// fills, a scrape and an evaluation run, the up window passes; the
	// count may rise in two steps, the second after the warm-up and the
	// first step's deployment), plus the time Nomad takes to start the
	// allocations.
	// Bound for the job count: the rate window fills, a scrape and an
	// evaluation run, the up window passes; the count may rise in two
	// steps, the second after the first step's Nomad deployment (min
	// healthy time 2s, health checks every 5s) and the warm-up. Then the
	// allocations start.
	const deployment, allocStart = 16 * time.Second, 15 * time.Second
	countBound := spikeAt + rateWindow + upWindow + 2*interval + deployment + warmup
	runBound := countBound + allocStart
	t.Logf("spike at %s: the metric asked for %d collectors at +%s; the job count reached %d at +%s (bound +%s); %d allocations ran at +%s (bound +%s)",
		spikeAt, needed, since(seen, spikeAt), needed, since(counted, spikeAt), countBound-spikeAt, needed, since(reached, spikeAt), runBound-spikeAt)
	if counted > countBound {
		t.Errorf("the job count reached %d at %s, later than %s", needed, counted, countBound)
	}
	if reached > runBound {
		t.Errorf("%d allocations ran at %s, later than %s", needed, reached, runBound)
	}
	if seen != 0 && counted > seen+upWindow+interval+deployment+warmup {
		t.Errorf("the job count reached %d %s after the metric asked for it: more than one up window (%s) + one interval (%s) + a deployment (%s) + the warm-up (%s)",
			needed, counted-seen, upWindow, interval, deployment, warmup)
	}
	for _, r := range rows {
		if r.at < spikeAt && r.count != 1 {
			t.Errorf("the job count was %d at %s, before the spike", r.count, r.at)
		}
	}
	if back == 0 {
		t.Fatalf("the collector job did not return to 1 allocation after the spike (ended at %s, down window %s)", spikeEnd, downWindow)
	}
	firstDown := time.Duration(0)
	for _, s := range sent {
		if at := s.at.Sub(start); at > spikeAt && strings.HasPrefix(s.message, "scale down") {
			firstDown = at
			break
		}
	}
	t.Logf("spike ended at %s: first scale-down at %s, back to 1 running allocation at %s (down window %s)", spikeEnd, firstDown.Round(time.Second), back.Round(time.Second), downWindow)
	if firstDown < spikeEnd+downWindow {
		t.Errorf("scaled down at %s, before the spike's end (%s) + the down window (%s)", firstDown, spikeEnd, downWindow)
	}
	for i := 1; i < len(rows); i++ {
		if rows[i].count > rows[i-1].count && rows[i].at > spikeEnd+rateWindow {
			t.Errorf("the job count rose again at %s, after the spike ended", rows[i].at)
		}
	}

	// The scaling events Nomad recorded (GET /v1/job/<id>/scale) carry the
	// decisions' reasons.
	ss, _, err := client.Jobs().ScaleStatus(jobID, (&api.QueryOptions{}).WithContext(ctx))
	if err != nil {
		t.Fatalf("read the job's scaling events: %v", err)
	}
	tgs := ss.TaskGroups["collector"]
	events := append([]api.ScalingEvent(nil), tgs.Events...)
	sort.Slice(events, func(i, j int) bool { return events[i].Time < events[j].Time })
	t.Logf("scaling events recorded by Nomad (GET /v1/job/%s/scale):", jobID)
	byMessage := map[string]bool{}
	for _, s := range sent {
		byMessage[s.message] = true
	}
	ups, downs := 0, 0
	var problems []error
	for _, ev := range events {
		count := int64(-1)
		if ev.Count != nil {
			count = *ev.Count
		}
		at := time.Unix(0, int64(ev.Time)).Sub(start).Round(time.Second)
		keys := make([]string, 0, len(ev.Meta))
		for k := range ev.Meta {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		var meta []string
		for _, k := range keys {
			meta = append(meta, fmt.Sprintf("%s=%v", k, ev.Meta[k]))
		}
		t.Logf("  %6s %d→%d %q meta{%s}", at, ev.PreviousCount, count, ev.Message, strings.Join(meta, " "))
		if ev.Meta["elk_policy"] != app+"/collector" {
			continue // not one of the engine's (e.g. the registration)
		}
		switch {
		case !byMessage[ev.Message]:
			problems = append(problems, fmt.Errorf("event %d→%d has message %q, not one the engine sent", ev.PreviousCount, count, ev.Message))
		case strings.HasPrefix(ev.Message, "scale up") && count > ev.PreviousCount:
			ups++
		case strings.HasPrefix(ev.Message, "scale down") && count < ev.PreviousCount:
			downs++
		default:
			problems = append(problems, fmt.Errorf("event %d→%d: message %q does not match the change", ev.PreviousCount, count, ev.Message))
		}
		if !strings.Contains(ev.Message, "ingest: ") {
			problems = append(problems, fmt.Errorf("event message %q lacks the check's vote", ev.Message))
		}
		if ev.Meta["elk_previous_count"] != strconv.FormatInt(ev.PreviousCount, 10) || ev.Meta["elk_value_ingest"] == nil || ev.Meta["elk_recommended"] == nil {
			problems = append(problems, fmt.Errorf("event %d→%d: meta %v lacks the decision", ev.PreviousCount, count, ev.Meta))
		}
	}
	if ups == 0 || downs == 0 {
		problems = append(problems, fmt.Errorf("Nomad recorded %d scale-up and %d scale-down events from the engine, want at least one of each", ups, downs))
	}
	if ups+downs != len(sent) {
		problems = append(problems, fmt.Errorf("Nomad recorded %d of the engine's events, the engine sent %d scale requests", ups+downs, len(sent)))
	}
	if err := errors.Join(problems...); err != nil {
		t.Error(err)
	}
}

// since is d-from, or "never" when d is 0.
func since(d, from time.Duration) string {
	if d == 0 {
		return "never"
	}
	return (d - from).Round(time.Second).String()
}
