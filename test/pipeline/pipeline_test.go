// Package pipeline_test checks elk's flow pipeline end to end against the
// real Elasticsearch and Kafka of deploy/dev/services: synthetic agent
// traffic with a truth file must land in Elasticsearch exactly once per flow
// sample — through collector → Elasticsearch and through collector → Kafka →
// ingest → Elasticsearch — also when Elasticsearch goes away for a minute,
// the Kafka broker restarts, or an ingest worker is killed.
//
// ELK_TEST_ES and ELK_TEST_KAFKA point at the services; tests skip when they
// are unset (and fail when ELK_TEST_REQUIRE_SERVICES=1).
// ELK_TEST_OUTAGE sets the Elasticsearch outage (default 60s);
// ELK_TEST_OUTAGE_REAL=1 stops the real server with deploy/dev/services
// instead of cutting a proxy.
package pipeline_test

import (
	"context"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/elk-project/elk/test/pipeline/harness"

	"github.com/elk-project/elk/deploy/dev/servicetest"
)

var elkBin string

func TestMain(m *testing.M) {
	if os.Getenv("ELK_TEST_ES") != "" {
		dir, err := os.MkdirTemp("", "elk-pipeline-test-")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		elkBin = filepath.Join(dir, "elk")
		build := exec.Command("go", "build", "-o", elkBin, "github.com/elk-project/elk/cmd/elk")
		build.Stdout, build.Stderr = os.Stderr, os.Stderr
		if err := build.Run(); err != nil {
			fmt.Fprintln(os.Stderr, "building elk:", err)
			os.Exit(1)
		}
		code := m.Run()
		os.RemoveAll(dir)
		os.Exit(code)
	}
	os.Exit(m.Run())
}

func need(t *testing.T, vars ...string) []string {
	t.Helper()
	var vals []string
	for _, v := range vars {
		vals = append(vals, servicetest.Service(t, v))
	}
	return vals
}

// run is one test's pipeline: its own index prefix, topic and group.
type run struct {
	t      *testing.T
	es     *harness.ES
	esURL  string
	kafka  string
	prefix string
	topic  string
	dir    string
	procs  []*harness.Proc
	// metrics are the /metrics URLs of the collector and ingest workers.
	metrics []string
}

func newRun(t *testing.T, esURL, kafka string) *run {
	id := strconv.FormatInt(time.Now().UnixNano()%1e9, 36)
	r := &run{
		t: t, es: harness.NewES(esURL), esURL: esURL, kafka: kafka,
		prefix: "sflow-t" + id, topic: "elk-test-" + id, dir: t.TempDir(),
	}
	t.Cleanup(func() {
		if t.Failed() {
			for _, m := range r.metrics {
				t.Logf("--- %s:\n%s", m, scrapeSink(m))
			}
		}
		for _, p := range r.procs {
			p.Kill()
			if t.Failed() {
				t.Logf("--- %s log (tail):\n%s", p.Name, p.Tail(3000))
			}
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := r.es.Delete(ctx, r.prefix); err != nil {
			t.Logf("cleanup: %v", err)
		}
		for _, sub := range []string{"a", "b"} {
			_ = r.es.Delete(ctx, r.prefix+sub)
		}
	})
	return r
}

func (r *run) start(name string, args ...string) *harness.Proc {
	r.t.Helper()
	p, err := harness.Start(name, elkBin, filepath.Join(r.dir, fmt.Sprintf("%s-%d.log", name, len(r.procs))), args...)
	if err != nil {
		r.t.Fatal(err)
	}
	r.procs = append(r.procs, p)
	return p
}

// esOutput is an elasticsearch: output writing under prefix (with a spool
// when spool is true) to esURL.
func (r *run) esOutput(esURL, prefix string, spool bool) string {
	q := url.Values{"index_prefix": {prefix}, "flush_interval": {"200ms"}}
	if spool {
		q.Set("spool", filepath.Join(r.dir, "spool-"+prefix))
	}
	return "elasticsearch:" + esURL + "?" + q.Encode()
}

// collector starts elk collector with outputs and returns its UDP port.
func (r *run) collector(outputs ...string) int {
	r.t.Helper()
	port, err := harness.FreeUDPPort()
	if err != nil {
		r.t.Fatal(err)
	}
	r.collectorOn(port, nil, outputs...)
	return port
}

// collectorOn starts elk collector on port with extra flags and outputs and
// returns it with its /metrics URL.
func (r *run) collectorOn(port int, extra []string, outputs ...string) (*harness.Proc, string) {
	r.t.Helper()
	maddr := freeTCPAddr(r.t)
	murl := "http://" + maddr + "/metrics"
	r.metrics = append(r.metrics, murl)
	args := append([]string{"collector", "--listen", fmt.Sprintf("127.0.0.1:%d", port), "--metrics", maddr}, extra...)
	for _, o := range outputs {
		args = append(args, "--output", o)
	}
	p := r.start("collector", args...)
	time.Sleep(1500 * time.Millisecond)
	return p, murl
}

func (r *run) ingest(esURL, prefix, group string) *harness.Proc {
	maddr := freeTCPAddr(r.t)
	r.metrics = append(r.metrics, "http://"+maddr+"/metrics")
	return r.start("ingest", "ingest", "--kafka", r.kafka+"/"+r.topic, "--group", group,
		"--output", r.esOutput(esURL, prefix, false), "--metrics", maddr)
}

func freeTCPAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// metricSum adds up the samples of metric name on a /metrics page.
func metricSum(t *testing.T, u, name string) float64 {
	t.Helper()
	res, err := http.Get(u)
	if err != nil {
		t.Fatalf("scrape %s: %v", u, err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	sum := 0.0
	for _, l := range strings.Split(string(body), "\n") {
		f := strings.Fields(l)
		if len(f) == 2 && (f[0] == name || strings.HasPrefix(f[0], name+"{")) {
			v, err := strconv.ParseFloat(f[1], 64)
			if err == nil {
				sum += v
			}
		}
	}
	return sum
}

// scrapeSink returns the elk_sink_ and loss lines of a /metrics page.
func scrapeSink(u string) string {
	res, err := http.Get(u)
	if err != nil {
		return err.Error()
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	var out []string
	for _, l := range strings.Split(string(body), "\n") {
		if strings.HasPrefix(l, "elk_sink_") || strings.HasPrefix(l, "elk_collector_loss") {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// agent sends rate flow samples/s for d to port and returns the truth.
func (r *run) agent(port int, rate int, d time.Duration, seed int) harness.Truth {
	r.t.Helper()
	p := r.startAgent(port, rate, d, seed)
	return r.waitAgent(p, d)
}

// startAgent starts elk agent with extra flags; the truth file is its last
// argument (waitAgent reads it from there).
func (r *run) startAgent(port int, rate int, d time.Duration, seed int, extra ...string) *harness.Proc {
	truth := filepath.Join(r.dir, fmt.Sprintf("truth-%d.json", seed))
	args := append([]string{"agent", "--target", fmt.Sprintf("127.0.0.1:%d", port),
		"--rate", strconv.Itoa(rate), "--duration", d.String(), "--seed", strconv.Itoa(seed)}, extra...)
	return r.start("agent", append(args, "--truth", truth)...)
}

func (r *run) waitAgent(p *harness.Proc, d time.Duration) harness.Truth {
	r.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d+time.Minute)
	defer cancel()
	if err := p.Wait(ctx); err != nil {
		r.t.Fatalf("agent: %v\n%s", err, p.Tail(2000))
	}
	truth, err := harness.ReadTruth(p.Cmd.Args[len(p.Cmd.Args)-1])
	if err != nil {
		r.t.Fatal(err)
	}
	if truth.FlowSamples == 0 {
		r.t.Fatal("agent sent no flow samples")
	}
	return truth
}

// expectExactly waits until the untenanted flow index of prefix holds the
// truth's flow samples, then checks nothing more arrives and Σ network.bytes
// equals the truth.
func (r *run) expectExactly(prefix string, truth harness.Truth, timeout time.Duration) {
	r.t.Helper()
	pattern := prefix + "-flow-default-*"
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	n, err := r.es.WaitCount(ctx, pattern, int64(truth.FlowSamples))
	if err != nil {
		r.t.Fatalf("%s: %d of %d flow documents after %s", pattern, n, truth.FlowSamples, timeout)
	}
	time.Sleep(3 * time.Second) // anything extra still on its way
	bg := context.Background()
	_ = r.es.Refresh(bg, pattern)
	n, err = r.es.Count(bg, pattern)
	if err != nil {
		r.t.Fatal(err)
	}
	sum, err := r.es.Sum(bg, pattern, "network.bytes")
	if err != nil {
		r.t.Fatal(err)
	}
	r.t.Logf("%s: %d flow documents (truth %d), Σ network.bytes %.0f (truth %d)", pattern, n, truth.FlowSamples, sum, truth.Bytes)
	if n != int64(truth.FlowSamples) {
		r.t.Errorf("%s holds %d flow documents, want exactly %d", pattern, n, truth.FlowSamples)
	}
	if math.Abs(sum-float64(truth.Bytes)) > 0.5 {
		r.t.Errorf("%s: Σ network.bytes = %.0f, want %d", pattern, sum, truth.Bytes)
	}
}

func TestCollectorToElasticsearch(t *testing.T) {
	vals := need(t, "ELK_TEST_ES")
	r := newRun(t, vals[0], "")
	port := r.collector(r.esOutput(r.esURL, r.prefix, true))
	truth := r.agent(port, 2000, 8*time.Second, 11)
	r.expectExactly(r.prefix, truth, time.Minute)
}

func TestCollectorKafkaIngestToElasticsearch(t *testing.T) {
	vals := need(t, "ELK_TEST_ES", "ELK_TEST_KAFKA")
	r := newRun(t, vals[0], vals[1])
	port := r.collector("kafka:" + r.kafka + "/" + r.topic)
	r.ingest(r.esURL, r.prefix, r.topic)
	truth := r.agent(port, 2000, 8*time.Second, 12)
	r.expectExactly(r.prefix, truth, time.Minute)
}

// outage stops Elasticsearch for d, either by cutting the proxy the
// pipeline talks through or (ELK_TEST_OUTAGE_REAL=1) by stopping the server.
type outage struct {
	proxy *harness.Proxy
	real  bool
}

func (o outage) down(t *testing.T) {
	if o.real {
		services(t, "stop", "es")
		return
	}
	o.proxy.Cut()
}

func (o outage) up(t *testing.T) {
	if o.real {
		services(t, "start", "es")
		return
	}
	o.proxy.Restore()
}

// esProxy is a TCP proxy to the run's Elasticsearch that a test can cut.
func (r *run) esProxy() *harness.Proxy {
	r.t.Helper()
	u, err := url.Parse(r.esURL)
	if err != nil {
		r.t.Fatal(err)
	}
	p, err := harness.NewProxy(u.Host)
	if err != nil {
		r.t.Fatal(err)
	}
	r.t.Cleanup(func() { p.Close() })
	return p
}

func services(t *testing.T, args ...string) {
	t.Helper()
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	script := filepath.Join(root, "deploy/dev/services")
	if _, err := os.Stat(script); err != nil {
		t.Skipf("%s not found: %v", script, err)
	}
	cmd := exec.Command(script, args...)
	cmd.Dir = root
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("deploy/dev/services %v: %v\n%s", args, err, out)
	}
	t.Logf("deploy/dev/services %v: %s", args, out)
}

// TestElasticsearchOutage sends traffic through both paths while
// Elasticsearch is unreachable for a minute: the collector spools, ingest
// stops committing (Kafka buffers), and afterwards both indices hold exactly
// the truth.
func TestElasticsearchOutage(t *testing.T) {
	vals := need(t, "ELK_TEST_ES", "ELK_TEST_KAFKA")
	r := newRun(t, vals[0], vals[1])
	d := 60 * time.Second
	if v := os.Getenv("ELK_TEST_OUTAGE"); v != "" {
		var err error
		if d, err = time.ParseDuration(v); err != nil {
			t.Fatalf("ELK_TEST_OUTAGE: %v", err)
		}
	}
	o := outage{real: os.Getenv("ELK_TEST_OUTAGE_REAL") == "1"}
	esURL := r.esURL
	if !o.real {
		o.proxy = r.esProxy()
		esURL = "http://" + o.proxy.Addr()
	}
	direct, viaKafka := r.prefix+"a", r.prefix+"b"
	port := r.collector(r.esOutput(esURL, direct, true), "kafka:"+r.kafka+"/"+r.topic)
	r.ingest(esURL, viaKafka, r.topic)

	send := 20 * time.Second
	agent := r.startAgent(port, 1000, send, 13)
	time.Sleep(4 * time.Second)
	t.Logf("elasticsearch down for %s (real stop: %v)", d, o.real)
	o.down(t)
	downAt := time.Now()
	truth := r.waitAgent(agent, send)
	time.Sleep(time.Until(downAt.Add(d)))
	o.up(t)
	t.Logf("elasticsearch back; %d flow samples sent", truth.FlowSamples)
	r.expectExactly(direct, truth, 2*time.Minute)
	r.expectExactly(viaKafka, truth, 2*time.Minute)
}

// TestCollectorStoppedDuringOutage: two collectors share the sFlow port and
// the Elasticsearch output. Elasticsearch goes away; one collector is
// stopped (a scale-down) with its documents in its spool and must exit
// cleanly within the 5s kill grace the targets give. When Elasticsearch is
// back the survivor drains the stopped collector's spool: the index holds
// exactly the truth.
func TestCollectorStoppedDuringOutage(t *testing.T) {
	vals := need(t, "ELK_TEST_ES")
	r := newRun(t, vals[0], "")
	proxy := r.esProxy()
	out := r.esOutput("http://"+proxy.Addr(), r.prefix, true)
	port, err := harness.FreeUDPPort()
	if err != nil {
		t.Fatal(err)
	}
	_, survivorMetrics := r.collectorOn(port, []string{"--share-port"}, out)
	victim, _ := r.collectorOn(port, []string{"--share-port"}, out)

	send := 20 * time.Second
	// 16 agents send from 16 source ports, which SO_REUSEPORT spreads over
	// both collectors' sockets.
	agent := r.startAgent(port, 1000, send, 16, "--agents", "16")
	time.Sleep(4 * time.Second)
	proxy.Cut()
	t.Log("elasticsearch cut off")
	time.Sleep(6 * time.Second)
	stopAt := time.Now()
	if err := victim.Stop(5 * time.Second); err != nil {
		t.Fatalf("collector stopped during the outage: %v (want exit 0 within the 5s grace)\n%s", err, victim.Tail(2000))
	}
	m := regexp.MustCompile(`closing with documents spooled.* documents=(\d+)`).FindStringSubmatch(victim.Tail(20000))
	if m == nil {
		t.Fatalf("the stopped collector did not report a spool; SO_REUSEPORT gave it no traffic?\n%s", victim.Tail(2000))
	}
	left, _ := strconv.Atoi(m[1])
	t.Logf("collector stopped in %s with %d documents spooled", time.Since(stopAt).Round(time.Millisecond), left)
	truth := r.waitAgent(agent, send)
	proxy.Restore()
	t.Logf("elasticsearch back; %d flow samples sent", truth.FlowSamples)
	r.expectExactly(r.prefix, truth, 2*time.Minute)
	// Counted when each adopted segment is delivered and removed.
	deadline := time.Now().Add(15 * time.Second)
	got := metricSum(t, survivorMetrics, "elk_sink_spool_adopted_documents_total")
	for got < float64(left) && time.Now().Before(deadline) {
		time.Sleep(200 * time.Millisecond)
		got = metricSum(t, survivorMetrics, "elk_sink_spool_adopted_documents_total")
	}
	if got != float64(left) {
		t.Errorf("the survivor adopted %v documents, want the %d the stopped collector left", got, left)
	}
}

// TestKafkaBrokerRestart restarts the broker while the collector publishes
// and ingest consumes.
func TestKafkaBrokerRestart(t *testing.T) {
	vals := need(t, "ELK_TEST_ES", "ELK_TEST_KAFKA")
	r := newRun(t, vals[0], vals[1])
	port := r.collector("kafka:" + r.kafka + "/" + r.topic)
	r.ingest(r.esURL, r.prefix, r.topic)
	send := 25 * time.Second
	agent := r.startAgent(port, 1000, send, 14)
	time.Sleep(5 * time.Second)
	services(t, "stop", "kafka")
	time.Sleep(3 * time.Second)
	services(t, "start", "kafka")
	truth := r.waitAgent(agent, send)
	r.expectExactly(r.prefix, truth, 3*time.Minute)
	// Nothing was lost, and the outage was not silent either.
	errs := metricSum(t, r.metrics[0], `elk_sink_bulk_request_errors_total{sink="kafka"}`)
	t.Logf("collector's Kafka sink: %v failed connections or produce requests during the restart", errs)
	if errs == 0 {
		t.Error(`the broker restart left elk_sink_bulk_request_errors_total{sink="kafka"} at 0`)
	}
}

// TestIngestKilled runs two ingest workers in one group, SIGKILLs one in the
// middle of the run and restarts it.
func TestIngestKilled(t *testing.T) {
	vals := need(t, "ELK_TEST_ES", "ELK_TEST_KAFKA")
	r := newRun(t, vals[0], vals[1])
	port := r.collector("kafka:" + r.kafka + "/" + r.topic)
	victim := r.ingest(r.esURL, r.prefix, r.topic)
	r.ingest(r.esURL, r.prefix, r.topic)
	send := 15 * time.Second
	agent := r.startAgent(port, 2000, send, 15)
	time.Sleep(6 * time.Second)
	victim.Kill()
	t.Log("ingest worker killed (SIGKILL)")
	time.Sleep(3 * time.Second)
	r.ingest(r.esURL, r.prefix, r.topic)
	truth := r.waitAgent(agent, send)
	r.expectExactly(r.prefix, truth, 2*time.Minute)
}
