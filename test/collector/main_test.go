// Package collector_test runs the real elk binary end to end: the synthetic
// agent sends sFlow datagrams to the collector over loopback and the
// collector's documents and metrics are checked against the agent's ground
// truth, and against independent decoders (tshark, pmacct's sfacctd).
package collector_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/elk-project/elk/agents/synth"

	"github.com/elk-project/elk/deploy/dev/servicetest"
)

// elkBin is the elk binary built once by TestMain.
var elkBin string

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	dir, err := os.MkdirTemp("", "elk-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "temp dir:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	elkBin = filepath.Join(dir, "elk")
	cmd := exec.Command("go", "build", "-o", elkBin, "github.com/elk-project/elk/cmd/elk")
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	if err := cmd.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build elk:", err)
		return 1
	}
	return m.Run()
}

// requireTool returns the path of an external program, skipping the test
// when it is missing (failing instead when ELK_TEST_REQUIRE_SERVICES=1).
func requireTool(t *testing.T, name, pkg string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err == nil {
		return p
	}
	// Daemons such as sfacctd live in /usr/sbin, which a non-root PATH
	// often lacks.
	for _, dir := range []string{"/usr/sbin", "/usr/local/sbin", "/sbin"} {
		if p := filepath.Join(dir, name); isExecutable(p) {
			return p
		}
	}
	servicetest.Missing(t, fmt.Sprintf("%s not found in PATH: install the Debian package %q (deploy/dev/services up does)", name, pkg))
	return ""
}

func isExecutable(path string) bool {
	st, err := os.Stat(path)
	return err == nil && !st.IsDir() && st.Mode()&0o111 != 0
}

// freePort returns a loopback port that is free for network ("udp"/"tcp").
func freePort(t *testing.T, network string) int {
	t.Helper()
	switch network {
	case "udp":
		c, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		return c.LocalAddr().(*net.UDPAddr).Port
	default:
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		return l.Addr().(*net.TCPAddr).Port
	}
}

// runElk runs `elk args...` to completion and fails the test on error.
func runElk(t *testing.T, timeout time.Duration, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, elkBin, args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("elk %s: %v\n%s", strings.Join(args, " "), err, out.String())
	}
	return out.String()
}

// agentArgs are the flags every test passes to `elk agent`.
func agentArgs(target string, rate int, d time.Duration, truth string, extra ...string) []string {
	args := []string{"agent", "--target", target, "--rate", strconv.Itoa(rate), "--duration", d.String(),
		"--seed", "42", "--truth", truth}
	return append(args, extra...)
}

// collector is a running `elk collector`.
type collector struct {
	t       *testing.T
	cmd     *exec.Cmd
	log     *bytes.Buffer
	metrics string
	done    chan error
}

func startCollector(t *testing.T, listen, output, metrics string, extra ...string) *collector {
	t.Helper()
	args := append([]string{"collector", "--listen", listen, "--output", "file:" + output, "--metrics", metrics}, extra...)
	cmd := exec.Command(elkBin, args...)
	c := &collector{t: t, cmd: cmd, log: &bytes.Buffer{}, metrics: "http://" + metrics + "/metrics", done: make(chan error, 1)}
	cmd.Stdout, cmd.Stderr = c.log, c.log
	if err := cmd.Start(); err != nil {
		t.Fatalf("start collector: %v", err)
	}
	go func() { c.done <- cmd.Wait() }()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			<-c.done
		}
	})
	// Ready when its metrics endpoint answers.
	deadline := time.Now().Add(15 * time.Second)
	for {
		select {
		case err := <-c.done:
			t.Fatalf("collector exited early: %v\n%s", err, c.log.String())
		default:
		}
		if _, err := c.scrape(); err == nil {
			return c
		}
		if time.Now().After(deadline) {
			t.Fatalf("collector metrics at %s never answered\n%s", c.metrics, c.log.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// stop sends SIGTERM and waits for a clean exit.
func (c *collector) stop() {
	c.t.Helper()
	if err := c.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		c.t.Fatalf("signal collector: %v", err)
	}
	select {
	case err := <-c.done:
		if err != nil {
			c.t.Fatalf("collector exit after SIGTERM: %v\n%s", err, c.log.String())
		}
	case <-time.After(30 * time.Second):
		c.t.Fatalf("collector still running 30s after SIGTERM\n%s", c.log.String())
	}
}

// metricSet is a scrape in the Prometheus text format: series → value.
type metricSet map[string]float64

func (c *collector) scrape() (metricSet, error) {
	resp, err := http.Get(c.metrics)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", c.metrics, resp.Status)
	}
	return parseMetrics(resp.Body)
}

func parseMetrics(r io.Reader) (metricSet, error) {
	m := metricSet{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			continue
		}
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			return nil, fmt.Errorf("metric line %q: %w", line, err)
		}
		m[line[:i]] = v
	}
	return m, sc.Err()
}

// sum adds every series of the metric family name whose labels contain all
// of the given label="value" pairs.
func (m metricSet) sum(name string, labels ...string) (float64, bool) {
	total, found := 0.0, false
	for series, v := range m {
		base, lbls, _ := strings.Cut(series, "{")
		if base != name {
			continue
		}
		ok := true
		for _, l := range labels {
			if !strings.Contains(lbls, l) {
				ok = false
			}
		}
		if ok {
			total += v
			found = true
		}
	}
	return total, found
}

// families lists the metric names present, for failure messages.
func (m metricSet) families() []string {
	seen := map[string]bool{}
	for series := range m {
		base, _, _ := strings.Cut(series, "{")
		seen[base] = true
	}
	var out []string
	for n := range seen {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// docTotals are sums over the collector's documents.
type docTotals struct {
	// counters counts counter documents: one per counter record.
	flows, counters uint64
	packets, bytes  uint64
	agents          map[string]*synth.Totals
	tenants         map[string]*synth.Totals
}

// readDocs sums the flow and counter documents in the collector's output
// file and its rotated predecessors (path.1, path.2, …). Untenanted copies
// make up the totals; tenant copies are summed per organization.id.
func readDocs(t *testing.T, path string) docTotals {
	t.Helper()
	d := docTotals{agents: map[string]*synth.Totals{}, tenants: map[string]*synth.Totals{}}
	files := []string{path}
	for i := 1; ; i++ {
		p := path + "." + strconv.Itoa(i)
		if _, err := os.Stat(p); err != nil {
			break
		}
		files = append(files, p)
	}
	for _, p := range files {
		f, err := os.Open(p)
		if err != nil {
			t.Fatalf("open output: %v", err)
		}
		sc := bufio.NewScanner(f)
		sc.Buffer(make([]byte, 1<<20), 16<<20)
		line := 0
		for sc.Scan() {
			line++
			doc, err := scanDoc(sc.Bytes())
			if err == nil && line%97 == 1 {
				// Check the fast scanner against a full JSON decode now and then.
				var full parsedDoc
				full, err = decodeDoc(sc.Bytes())
				if err == nil && full != doc {
					err = fmt.Errorf("fast scan %+v, JSON decode %+v", doc, full)
				}
			}
			if err != nil {
				f.Close()
				t.Fatalf("%s:%d: %v: %s", p, line, err, sc.Text())
			}
			switch doc.dataset {
			case "sflow.flow":
				if doc.tenant != "" {
					add(d.tenants, doc.tenant, doc.packets, doc.bytes)
					continue
				}
				d.flows++
				d.packets += doc.packets
				d.bytes += doc.bytes
				add(d.agents, doc.agent, doc.packets, doc.bytes)
			case "sflow.counters":
				if doc.tenant == "" {
					d.counters++
				}
			default:
				f.Close()
				t.Fatalf("%s:%d: unexpected event.dataset %q", p, line, doc.dataset)
			}
		}
		f.Close()
		if err := sc.Err(); err != nil {
			t.Fatalf("read %s: %v", p, err)
		}
	}
	return d
}

func add(m map[string]*synth.Totals, key string, packets, bytes uint64) {
	tt := m[key]
	if tt == nil {
		tt = &synth.Totals{}
		m[key] = tt
	}
	tt.FlowSamples++
	tt.Packets += packets
	tt.Bytes += bytes
}

// parsedDoc is what the tests read from a document.
type parsedDoc struct {
	dataset, tenant, agent string
	packets, bytes         uint64
}

// decodeDoc reads a document with encoding/json.
func decodeDoc(b []byte) (parsedDoc, error) {
	var doc struct {
		Event struct {
			Dataset string `json:"dataset"`
		} `json:"event"`
		Network struct {
			Packets *uint64 `json:"packets"`
			Bytes   *uint64 `json:"bytes"`
		} `json:"network"`
		Organization struct {
			ID string `json:"id"`
		} `json:"organization"`
		Observer struct {
			IP any `json:"ip"`
		} `json:"observer"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		return parsedDoc{}, fmt.Errorf("not a JSON document: %w", err)
	}
	p := parsedDoc{dataset: doc.Event.Dataset, tenant: doc.Organization.ID}
	if p.dataset == "sflow.flow" {
		if doc.Network.Packets == nil || doc.Network.Bytes == nil {
			return p, errors.New("flow document without network.packets/bytes")
		}
		p.packets, p.bytes = *doc.Network.Packets, *doc.Network.Bytes
		switch ip := doc.Observer.IP.(type) {
		case string:
			p.agent = ip
		case []any:
			if len(ip) > 0 {
				p.agent, _ = ip[0].(string)
			}
		}
	}
	return p, nil
}

// scanDoc reads the same fields as decodeDoc by looking for their keys,
// which is many times faster on hundreds of thousands of documents. It
// relies on the keys being unique in the document (readDocs checks it
// against decodeDoc regularly).
func scanDoc(b []byte) (parsedDoc, error) {
	var p parsedDoc
	var ok bool
	if p.dataset, ok = scanString(b, `"event":{`, `"dataset":`); !ok {
		return p, errors.New("no event.dataset")
	}
	p.tenant, _ = scanString(b, `"organization":{`, `"id":`)
	if p.dataset != "sflow.flow" {
		return p, nil
	}
	p.agent, _ = scanString(b, `"observer":{`, `"ip":`)
	pk, ok1 := scanUint(b, `"network":{`, `"packets":`)
	by, ok2 := scanUint(b, `"network":{`, `"bytes":`)
	if !ok1 || !ok2 {
		return p, errors.New("flow document without network.packets/bytes")
	}
	p.packets, p.bytes = pk, by
	return p, nil
}

// scanValue returns what follows key inside the object that starts at
// object (searching from there on).
func scanValue(b []byte, object, key string) ([]byte, bool) {
	i := bytes.Index(b, []byte(object))
	if i < 0 {
		return nil, false
	}
	b = b[i+len(object):]
	j := bytes.Index(b, []byte(key))
	if j < 0 {
		return nil, false
	}
	return b[j+len(key):], true
}

func scanString(b []byte, object, key string) (string, bool) {
	v, ok := scanValue(b, object, key)
	if !ok || len(v) == 0 {
		return "", false
	}
	if v[0] == '[' {
		v = v[1:]
	}
	if len(v) == 0 || v[0] != '"' {
		return "", false
	}
	end := bytes.IndexByte(v[1:], '"')
	if end < 0 {
		return "", false
	}
	return string(v[1 : end+1]), true
}

func scanUint(b []byte, object, key string) (uint64, bool) {
	v, ok := scanValue(b, object, key)
	if !ok {
		return 0, false
	}
	n := 0
	for n < len(v) && v[n] >= '0' && v[n] <= '9' {
		n++
	}
	x, err := strconv.ParseUint(string(v[:n]), 10, 64)
	return x, err == nil
}

// waitFor polls cond until it holds or the timeout passes.
func waitFor(timeout time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(100 * time.Millisecond)
	}
}
