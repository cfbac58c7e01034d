package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/elk-project/elk/orchestrator/client"
	"github.com/elk-project/elk/orchestrator/discovery"
	"github.com/elk-project/elk/orchestrator/server"
	pclient "github.com/elk-project/elk/policies/client"
	"github.com/elk-project/elk/policies/simulate"
	"github.com/elk-project/elk/policies/source"
	promsource "github.com/elk-project/elk/policies/source/prometheus"
)

var elkBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "elk-policy-e2e-")
	if err != nil {
		panic(err)
	}
	elkBin = filepath.Join(dir, "elk")
	if bin := os.Getenv("ELK_TEST_ELK_BINARY"); bin != "" {
		elkBin = bin // a prebuilt elk binary
		code := m.Run()
		os.RemoveAll(dir)
		os.Exit(code)
	}
	build := exec.Command("go", "build", "-o", elkBin, "github.com/elk-project/elk/cmd/elk")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build elk:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func freeUDPPort(t *testing.T) int {
	c, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).Port
}

func freeTCPPort(t *testing.T) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// startPrometheus runs the Debian prometheus binary scraping the targets
// listed in sdFile every second, or returns "" when it is not installed or
// ELK_POLICY_E2E_BUILTIN=1 asks for the built-in scraper.
func startPrometheus(t *testing.T, dir, sdFile string) string {
	bin, err := exec.LookPath("prometheus")
	if err != nil || os.Getenv("ELK_POLICY_E2E_BUILTIN") == "1" {
		return "" // use the built-in scraper
	}
	cfg := filepath.Join(dir, "prometheus.yml")
	os.WriteFile(cfg, []byte(fmt.Sprintf(`global: {scrape_interval: 1s, evaluation_interval: 1s}
scrape_configs:
  - job_name: elk
    file_sd_configs: [{files: [%q], refresh_interval: 1s}]
`, sdFile)), 0o644)
	os.WriteFile(sdFile, []byte("[]"), 0o644)
	addr := fmt.Sprintf("127.0.0.1:%d", freeTCPPort(t))
	cmd := exec.Command(bin, "--config.file="+cfg, "--storage.tsdb.path="+filepath.Join(dir, "tsdb"),
		"--web.listen-address="+addr, "--log.level=warn")
	logf, _ := os.Create(filepath.Join(dir, "prometheus.log"))
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatalf("start prometheus: %v", err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait(); logf.Close() })
	url := "http://" + addr
	deadline := time.Now().Add(20 * time.Second)
	for {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
			return url
		}
		if time.Now().After(deadline) {
			t.Fatalf("prometheus did not start: %v", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

const (
	baseRate     = 3000 // flow samples/s before and after the spike
	spikeFactor  = 5    // 15,000/s during the spike
	perCollector = 4000 // policy target per collector
	spikeAt      = 20 * time.Second
	spikeFor     = 40 * time.Second
	upWindow     = 4 * time.Second
	downWindow   = 20 * time.Second
	interval     = 2 * time.Second
	rateWindow   = 10 * time.Second
	// warmup covers the rate window and one scrape: until then a new
	// collector's rate() under-counts its share (its series starts at the
	// first scrape, with the datagrams it took before that already in it).
	warmup = rateWindow + 2*time.Second
)

// TestSpikeScalesCollectors runs the spike scenario end to end and prints
// the timeline. It takes about two minutes.
func TestSpikeScalesCollectors(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end spike test takes about two minutes")
	}
	dir := t.TempDir()
	if keep := os.Getenv("ELK_POLICY_E2E_STATE"); keep != "" {
		dir = keep // keep logs and state for a look after the run
	}
	sd := filepath.Join(dir, "targets.json")
	prom := startPrometheus(t, dir, sd)
	check := fmt.Sprintf(`metric: rate(elk_collector_agent_samples_total{type="flow"}[%s])`, rateWindow)
	via := "built-in scraper"
	if prom != "" {
		check = fmt.Sprintf(`query: sum(rate(elk_collector_agent_samples_total{type="flow"}[%s]))`, rateWindow)
		via = "Prometheus " + prom
	}
	port := freeUDPPort(t)
	bp := fmt.Sprintf(`name: demo
target: local
entities:
  - id: collector
    type: sflow-collector
    count: 1
    config:
      port: %d
      output: [file:%s]
    policies:
      - min: 1
        max: 6
        evaluation_interval: %s
        checks:
          - name: ingest
            %s
            strategy:
              target-value: {target: %d, input: total}
            on_missing: up_only
        controls:
          stabilization: {up: %s, down: %s}
          warmup: %s
`, port, filepath.Join(dir, "flows.ndjson"), interval, check, perCollector, upWindow, downWindow, warmup)

	stack, err := server.NewLocal(server.LocalConfig{Listen: "127.0.0.1:0", StateDir: filepath.Join(dir, "state"),
		ElkBinary: elkBin, Prometheus: prom, WaitTimeout: 30 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- stack.Run(ctx) }()
	defer func() { cancel(); <-done }()

	oc, err := client.New(stack.Addr, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := oc.Deploy(ctx, "demo.yaml", []byte(bp), false, nil); err != nil {
		t.Fatalf("deploy: %v", err)
	}
	// Keep Prometheus' targets in step with the running collectors.
	if prom != "" {
		go func() {
			for ctx.Err() == nil {
				svcs, _ := stack.Discovery.Resolve(ctx, discovery.ServiceName("demo", "collector"))
				var targets []string
				for _, s := range svcs {
					targets = append(targets, fmt.Sprintf("127.0.0.1:%s", s.Meta["port_metrics"]))
				}
				data, _ := json.Marshal([]map[string]any{{"targets": targets}})
				os.WriteFile(sd+".tmp", data, 0o644)
				os.Rename(sd+".tmp", sd)
				time.Sleep(500 * time.Millisecond)
			}
		}()
	}

	// The way down may take two steps, each a down window of evidence and
	// the second after a warm-up; the loop ends as soon as one is left.
	total := spikeAt + spikeFor + rateWindow + 2*(downWindow+warmup) + 40*time.Second
	agent := exec.CommandContext(ctx, elkBin, "agent", "--target", fmt.Sprintf("127.0.0.1:%d", port),
		"--rate", fmt.Sprint(baseRate), "--scenario", "spike", "--spike-factor", fmt.Sprint(spikeFactor),
		"--spike-at", spikeAt.String(), "--spike-for", spikeFor.String(), "--spike-every", "24h", "--duration", total.String())
	agentLog, _ := os.Create(filepath.Join(dir, "agent.log"))
	agent.Stdout, agent.Stderr = agentLog, agentLog
	if err := agent.Start(); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	defer func() { agent.Process.Kill(); agent.Wait() }()

	type row struct {
		at               time.Duration
		rate             float64
		desired, running int
		why              string
	}
	var mu sync.Mutex
	var rows []row
	pc := pclient.New(stack.Addr, "e2e")
	needed := (baseRate*spikeFactor + perCollector - 1) / perCollector
	var reached, back time.Duration
	for time.Since(start) < total {
		time.Sleep(time.Second)
		el := time.Since(start)
		ds, err := pc.Explain(ctx, "demo/collector", 1)
		st, err2 := stack.Engine.Status(ctx, "demo")
		if err != nil || err2 != nil || len(ds) == 0 {
			continue
		}
		running := 0
		for _, e := range st.Entities {
			if e.ID == "collector" {
				running = e.Healthy
			}
		}
		d := ds[0]
		r := row{at: el, desired: d.Desired, running: running, why: d.Message()}
		if len(d.Readings) > 0 && !d.Readings[0].Missing {
			r.rate = d.Readings[0].Value
		}
		mu.Lock()
		rows = append(rows, r)
		mu.Unlock()
		if el > spikeAt+15*time.Second && running < 2 {
			logs, _ := filepath.Glob(filepath.Join(dir, "state", "local", "apps", "demo", "collector", "*.log"))
			for _, l := range logs {
				if data, _ := os.ReadFile(l); strings.Contains(string(data), "address already in use") {
					t.Fatalf("a second collector cannot share the sFlow port (the collector pool relies on SO_REUSEPORT), from %s:\n%s", l, lastLines(string(data), 3))
				}
			}
		}
		if reached == 0 && el > spikeAt && running >= needed {
			reached = el
		}
		if reached != 0 && back == 0 && el > spikeAt+spikeFor && running == 1 {
			back = el
			break
		}
	}
	t.Logf("timeline (metric via %s; spike %d→%d samples/s at %s for %s; target %d per collector):", via,
		baseRate, baseRate*spikeFactor, spikeAt, spikeFor, perCollector)
	t.Logf("%6s %10s %8s %8s  %s", "time", "rate/s", "desired", "running", "decision")
	rec := simulate.Recording{}
	for _, r := range rows {
		t.Logf("%6s %10.0f %8d %8d  %s", r.at.Round(time.Second), r.rate, r.desired, r.running, r.why)
	}
	if prom != "" {
		// The exact series the policy read, every second.
		ps, err := promsource.New(prom)
		if err == nil {
			rec["ingest"], err = ps.Range(ctx, fmt.Sprintf(`sum(rate(elk_collector_agent_samples_total{type="flow"}[%s]))`, rateWindow),
				start, time.Now(), time.Second)
		}
		if err != nil {
			t.Logf("range query: %v", err)
		}
	} else {
		for _, r := range rows {
			if r.rate > 0 {
				rec["ingest"] = append(rec["ingest"], source.Sample{Time: start.Add(r.at).UTC().Truncate(time.Second), Value: r.rate})
			}
		}
	}
	if out := os.Getenv("ELK_POLICY_RECORDING_OUT"); out != "" && len(rec["ingest"]) > 0 {
		f, err := os.Create(out)
		if err == nil {
			rec.Write(f, fmt.Sprintf("collectors' ingest rate in flow samples/s: sum(rate(elk_collector_agent_samples_total{type=\"flow\"}[%s])) via %s\nrecorded by policies/e2e TestSpikeScalesCollectors: elk agent --scenario spike --rate %d --spike-factor %d --spike-at %s --spike-for %s",
				rateWindow, strings.Split(via, " ")[0], baseRate, spikeFactor, spikeAt, spikeFor))
			f.Close()
		}
	}
	if reached == 0 {
		t.Fatalf("the collectors never reached %d instances during the spike", needed)
	}
	// Bound: while the rate window fills the recommendation ramps, so the
	// count rises in two steps. The first comes once an up window of
	// readings asks for more (upWindow plus an evaluation interval); the
	// second once the warm-up has passed and another up window of trusted
	// readings asks for the rest. Allow an interval each for the scrape
	// and the evaluation, and 12s for processes starting on a busy machine.
	bound := spikeAt + 2*upWindow + warmup + 3*interval + 12*time.Second
	t.Logf("reached %d collectors %s after the spike started (bound %s); back to 1 at %s (spike ended at %s, down window %s)",
		needed, reached-spikeAt, bound-spikeAt, back, spikeAt+spikeFor, downWindow)
	if reached > bound {
		t.Errorf("reached %d collectors at %s, later than %s", needed, reached, bound)
	}
	if back == 0 {
		t.Fatalf("the collectors did not return to 1 after the spike")
	}

	// Oscillating load: 6,000 ± 3,000 samples/s with a 20s period, shorter
	// than the down window. The count may rise while the first peak is
	// seen, then must hold: no flapping.
	agent.Process.Kill()
	agent.Wait()
	osc := exec.CommandContext(ctx, elkBin, "agent", "--target", fmt.Sprintf("127.0.0.1:%d", port),
		"--rate", "6000", "--scenario", "diurnal", "--diurnal-amplitude", "0.5", "--diurnal-period", "20s", "--duration", "70s")
	osc.Stdout, osc.Stderr = agentLog, agentLog
	if err := osc.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { osc.Process.Kill(); osc.Wait() }()
	oscStart := time.Now()
	var counts []int
	var oscRows []string
	for time.Since(oscStart) < 65*time.Second {
		time.Sleep(time.Second)
		ds, err := pc.Explain(ctx, "demo/collector", 1)
		if err != nil || len(ds) == 0 {
			continue
		}
		d := ds[0]
		rate := 0.0
		if len(d.Readings) > 0 {
			rate = d.Readings[0].Value
		}
		counts = append(counts, d.Desired)
		oscRows = append(oscRows, fmt.Sprintf("%6s %10.0f %8d  %s", time.Since(oscStart).Round(time.Second), rate, d.Desired, d.Message()))
	}
	t.Logf("oscillating load (6,000 ± 3,000 samples/s, period 20s):")
	t.Logf("%6s %10s %8s  %s", "time", "rate/s", "desired", "decision")
	for _, r := range oscRows {
		t.Logf("%s", r)
	}
	// After the first 20s (one period plus the rate window) the count
	// must not move down and up again.
	reversals, last := 0, 0
	for i := 21; i < len(counts); i++ {
		d := counts[i] - counts[i-1]
		switch {
		case d > 0 && last < 0, d < 0 && last > 0:
			reversals++
		}
		if d != 0 {
			last = d
		}
	}
	if reversals > 0 {
		t.Errorf("the count flapped %d times on an oscillating load: %v", reversals, counts)
	}
	// No flapping: count changes are one rise (maybe in steps) and one fall.
	changes := 0
	for i := 1; i < len(rows); i++ {
		if (rows[i].desired > rows[i-1].desired) && rows[i].at > spikeAt+spikeFor+rateWindow {
			changes++
		}
	}
	if changes > 0 {
		t.Errorf("the count rose again %d times after the spike ended", changes)
	}
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
