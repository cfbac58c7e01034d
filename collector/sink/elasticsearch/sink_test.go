package elasticsearch

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
	dto "github.com/prometheus/client_model/go"

	"github.com/elk-project/elk/collector/internal/logtest"
	"github.com/elk-project/elk/collector/output"
	"github.com/elk-project/elk/collector/sink"
)

var day = time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)

func testDocs(n int, tenant string) []sink.Doc {
	docs := make([]sink.Doc, n)
	for i := range docs {
		docs[i] = sink.Doc{
			ID:      fmt.Sprintf("%s-%06d", tenant, i),
			Dataset: "sflow.flow",
			Tenant:  tenant,
			Key:     []byte("192.0.2.1"),
			Time:    day,
			Body:    []byte(fmt.Sprintf(`{"@timestamp":"2026-11-27T10:00:00Z","network":{"bytes":%d}}`, i)),
		}
	}
	return docs
}

func newTestSink(t *testing.T, url string, mod func(*Config)) (*Sink, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	cfg := Config{URLs: []string{url}, FlushInterval: 20 * time.Millisecond, MaxInFlight: 1000}
	if mod != nil {
		mod(&cfg)
	}
	s, err := New(cfg, Deps{Metrics: reg})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = s.Close(ctx)
	})
	return s, reg
}

func docsMetric(reg *prometheus.Registry, tenant, outcome string) float64 {
	mfs, _ := reg.Gather()
	for _, mf := range mfs {
		if mf.GetName() != "elk_sink_documents_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			l := map[string]string{}
			for _, lp := range m.GetLabel() {
				l[lp.GetName()] = lp.GetValue()
			}
			if l["tenant"] == tenant && l["outcome"] == outcome {
				return m.GetCounter().GetValue()
			}
		}
	}
	return 0
}

func flush(t *testing.T, s *Sink, d time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	if err := s.Flush(ctx); err != nil {
		t.Fatalf("Flush: %v", err)
	}
}

func TestIndexesOnceAndCountsDuplicates(t *testing.T) {
	tests := []struct {
		name       string
		noProduct  bool
		legacyOnly bool
		tenant     string
		index      string
		template   string
	}{
		{name: "elasticsearch untenanted", tenant: "", index: "sflow-flow-default-2026.11.27", template: "_index_template/sflow"},
		{name: "opensearch without product header", noProduct: true, tenant: "Acme Corp", index: "sflow-flow-acme_corp-2026.11.27", template: "_index_template/sflow"},
		{name: "before composable templates", legacyOnly: true, tenant: "t", index: "sflow-flow-t-2026.11.27", template: "_template/sflow"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeES(t)
			f.set(func(f *fakeES) { f.noProduct, f.legacyOnly = tc.noProduct, tc.legacyOnly })
			s, reg := newTestSink(t, f.srv.URL, nil)
			docs := testDocs(250, tc.tenant)
			ctx := context.Background()
			if err := s.Write(ctx, docs); err != nil {
				t.Fatalf("Write: %v", err)
			}
			// Callers reuse their slices: the sink must have copied.
			for i := range docs {
				docs[i].Body[2] = 'X'
			}
			flush(t, s, 5*time.Second)
			if err := s.Write(ctx, testDocs(250, tc.tenant)); err != nil {
				t.Fatalf("second Write: %v", err)
			}
			flush(t, s, 5*time.Second)
			if got := f.count(); got != 250 {
				t.Fatalf("stored %d documents, want 250", got)
			}
			f.mu.Lock()
			stored := len(f.docs[tc.index])
			body := string(f.docs[tc.index][docs[7].ID])
			_, tmpl := f.templates[tc.template]
			f.mu.Unlock()
			if stored != 250 {
				t.Errorf("index %s holds %d documents, want 250", tc.index, stored)
			}
			if !strings.HasPrefix(body, `{"@timestamp"`) {
				t.Errorf("stored body %q was not copied before the caller reused it", body)
			}
			if !tmpl {
				t.Errorf("index template %s was not installed (have %d templates)", tc.template, len(f.templates))
			}
			lbl := tc.tenant
			if got := docsMetric(reg, lbl, OutcomeIndexed); got != 250 {
				t.Errorf("indexed metric = %v, want 250", got)
			}
			if got := docsMetric(reg, lbl, OutcomeDuplicate); got != 250 {
				t.Errorf("duplicate metric = %v, want 250", got)
			}
		})
	}
}

func TestRetriesRejectedItems(t *testing.T) {
	f := newFakeES(t)
	f.set(func(f *fakeES) { f.reject429 = 120 })
	s, reg := newTestSink(t, f.srv.URL, nil)
	if err := s.Write(context.Background(), testDocs(100, "")); err != nil {
		t.Fatalf("Write: %v", err)
	}
	flush(t, s, 20*time.Second)
	if got := f.count(); got != 100 {
		t.Fatalf("stored %d, want 100", got)
	}
	if got := gaugeValue(s.m.retries); got < 100 {
		t.Errorf("retries = %v, want >= 100", got)
	}
	if got := docsMetric(reg, "", OutcomeFailed); got != 0 {
		t.Errorf("failed = %v, want 0", got)
	}
}

// TestRejectedDocumentsLogBounded: 3000 documents the cluster rejects for
// good are each counted as failed, but "document rejected" is logged about
// once a second, not per document.
func TestRejectedDocumentsLogBounded(t *testing.T) {
	f := newFakeES(t)
	const n = 3000
	f.set(func(f *fakeES) { f.reject400 = n })
	log, buf := logtest.New()
	reg := prometheus.NewRegistry()
	s, err := New(Config{URLs: []string{f.srv.URL}, FlushInterval: 20 * time.Millisecond, MaxInFlight: 1000},
		Deps{Metrics: reg, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = s.Close(ctx)
	})
	start := time.Now()
	if err := s.Write(context.Background(), testDocs(n, "t")); err != nil {
		t.Fatal(err)
	}
	flush(t, s, 20*time.Second)
	elapsed := time.Since(start)
	if got := docsMetric(reg, "t", OutcomeFailed); got != n {
		t.Errorf("failed = %v, want %d", got, n)
	}
	out := buf.String()
	lines := strings.Count(out, `msg="document rejected"`)
	if most := 1 + int(elapsed/time.Second); lines < 1 || lines > most {
		t.Errorf("%d \"document rejected\" lines for %d rejected documents in %v, want 1 to %d", lines, n, elapsed, most)
	}
	t.Logf("%d documents rejected in %v: %d log lines", n, elapsed.Round(time.Millisecond), lines)
}

func TestBackpressureBlocksWrite(t *testing.T) {
	f := newFakeES(t)
	stall := make(chan struct{})
	f.set(func(f *fakeES) { f.stall = stall })
	s, _ := newTestSink(t, f.srv.URL, func(c *Config) { c.MaxInFlight = 10 })
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	err := s.Write(ctx, testDocs(50, ""))
	if err == nil {
		t.Fatal("Write of 50 documents with 10 in flight and a stalled cluster returned nil; want it to block until ctx ends")
	}
	if got := s.inflight.Load(); got != 10 {
		t.Errorf("in flight = %d, want the bound 10", got)
	}
	f.set(func(f *fakeES) { f.stall = nil })
	close(stall)
	flush(t, s, 5*time.Second)
	if got := f.count(); got != 10 {
		t.Errorf("stored %d, want the 10 accepted documents", got)
	}
}

func TestSpoolWhileDownThenDrainInOrder(t *testing.T) {
	f := newFakeES(t)
	dir := t.TempDir()
	// One worker: segments drain oldest first, and with a single bulk
	// worker the documents inside a segment keep their order too.
	s, reg := newTestSink(t, f.srv.URL, func(c *Config) { c.SpoolDir = dir; c.Workers = 1 })
	ctx := context.Background()
	first := testDocs(300, "")
	if err := s.Write(ctx, first[:100]); err != nil {
		t.Fatal(err)
	}
	flush(t, s, 5*time.Second)
	f.set(func(f *fakeES) { f.down = true })
	// The first failed bulk marks the cluster down; everything after spools.
	if err := s.Write(ctx, first[100:200]); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for s.isHealthy() && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if err := s.Write(ctx, first[200:]); err != nil {
		t.Fatal(err)
	}
	s.updateSpoolGauges()
	if got := gaugeValue(s.m.spoolBytes); got <= 0 {
		t.Errorf("spool bytes = %v while down, want > 0", got)
	}
	if got := gaugeValue(s.m.spooled); got < 100 {
		t.Errorf("spooled = %v, want >= 100", got)
	}
	if got := docsMetric(reg, "", OutcomeIndexed); got != 100 {
		t.Errorf("indexed = %v while down, want the 100 acknowledged before (spooling is not an outcome)", got)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) == 0 {
		t.Error("no spool segment on disk while the cluster is down")
	}
	f.set(func(f *fakeES) { f.down = false })
	flush(t, s, 20*time.Second)
	if got := f.count(); got != 300 {
		t.Fatalf("stored %d, want 300", got)
	}
	f.mu.Lock()
	order := append([]string(nil), f.order...)
	f.mu.Unlock()
	// Documents written while the cluster was known down arrive in the
	// order written.
	last := -1
	for _, id := range order[100:] {
		var n int
		fmt.Sscanf(strings.TrimPrefix(id, "-"), "%d", &n)
		if n < 200 {
			continue // in flight when the cluster went away: spooled when their request failed
		}
		if n < last {
			t.Errorf("document %d indexed after %d: spool not drained in order", n, last)
			break
		}
		last = n
	}
	s.updateSpoolGauges()
	if got := gaugeValue(s.m.spoolBytes); got != 0 {
		t.Errorf("spool bytes after drain = %v, want 0", got)
	}
	if entries, _ := filepath.Glob(filepath.Join(dir, "*.spool")); len(entries) != 0 {
		t.Errorf("spool segments left after drain: %v", entries)
	}
	assertOutcomesPartition(t, reg, "", 300)
}

// assertOutcomesPartition checks that every one of the written documents
// was counted exactly once, under its final outcome.
func assertOutcomesPartition(t *testing.T, reg *prometheus.Registry, tenant string, written int) {
	t.Helper()
	indexed := docsMetric(reg, tenant, OutcomeIndexed)
	dup := docsMetric(reg, tenant, OutcomeDuplicate)
	failed := docsMetric(reg, tenant, OutcomeFailed)
	if indexed+dup+failed != float64(written) {
		t.Errorf("indexed %v + duplicate %v + failed %v = %v, want the %d documents written",
			indexed, dup, failed, indexed+dup+failed, written)
	}
	mfs, _ := reg.Gather()
	for _, mf := range mfs {
		if mf.GetName() != "elk_sink_documents_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, lp := range m.GetLabel() {
				if lp.GetName() == "outcome" && lp.GetValue() != OutcomeIndexed && lp.GetValue() != OutcomeDuplicate && lp.GetValue() != OutcomeFailed {
					t.Errorf("elk_sink_documents_total has outcome %q, not a final outcome", lp.GetValue())
				}
			}
		}
	}
}

// The cluster goes away in the middle of draining a segment: the segment is
// drained again, but the documents acknowledged the first time are neither
// sent nor counted again.
func TestSpoolDrainInterruptedCountsOnce(t *testing.T) {
	f := newFakeES(t)
	f.set(func(f *fakeES) { f.down = true })
	s, reg := newTestSink(t, f.srv.URL, func(c *Config) {
		c.SpoolDir = t.TempDir()
		c.Workers = 1
		c.FlushBytes = 4096 // several bulk requests per segment
	})
	ctx := context.Background()
	if err := s.Write(ctx, testDocs(300, "t")); err != nil {
		t.Fatal(err)
	}
	if got := gaugeValue(s.m.spooled); got != 300 {
		t.Fatalf("spooled = %v, want 300 (the cluster was down from the start)", got)
	}
	// Back for one bulk request, then away again.
	f.set(func(f *fakeES) { f.down, f.downAfter = false, 1 })
	deadline := time.Now().Add(10 * time.Second)
	for f.count() == 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	for s.isHealthy() && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	first := f.count()
	if first == 0 || first >= 300 {
		t.Fatalf("first drain stored %d, want some but not all of 300", first)
	}
	f.set(func(f *fakeES) { f.down = false })
	flush(t, s, 20*time.Second)
	if got := f.count(); got != 300 {
		t.Fatalf("stored %d, want 300", got)
	}
	if got := docsMetric(reg, "t", OutcomeDuplicate); got != 0 {
		t.Errorf("duplicate = %v: documents acknowledged before the interruption were sent again", got)
	}
	assertOutcomesPartition(t, reg, "t", 300)
}

func TestSpoolSurvivesRestart(t *testing.T) {
	f := newFakeES(t)
	f.set(func(f *fakeES) { f.down = true })
	dir := t.TempDir()
	reg := prometheus.NewRegistry()
	s, err := New(Config{URLs: []string{f.srv.URL}, SpoolDir: dir, FlushInterval: 20 * time.Millisecond}, Deps{Metrics: reg})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Write(context.Background(), testDocs(40, "t1")); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	_ = s.Close(ctx) // cluster still down: documents stay spooled
	cancel()
	if got := f.count(); got != 0 {
		t.Fatalf("stored %d while down", got)
	}
	f.set(func(f *fakeES) { f.down = false })
	s2, _ := newTestSink(t, f.srv.URL, func(c *Config) { c.SpoolDir = dir })
	flush(t, s2, 10*time.Second)
	if got := f.count(); got != 40 {
		t.Fatalf("after restart stored %d, want the 40 spooled documents", got)
	}
}

func TestSpoolDirExclusive(t *testing.T) {
	dir := t.TempDir()
	sp, err := openSpool(dir, 1<<20, time.Now)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := openSpool(dir, 1<<20, time.Now); err == nil {
		t.Error("a second spool on the same dir opened; want an in-use error")
	}
	if err := sp.close(); err != nil {
		t.Fatal(err)
	}
	sp2, err := openSpool(dir, 1<<20, time.Now)
	if err != nil {
		t.Fatalf("reopen after close: %v", err)
	}
	sp2.close()
}

func TestSpoolBound(t *testing.T) {
	sp, err := openSpool(t.TempDir(), 2000, time.Now)
	if err != nil {
		t.Fatal(err)
	}
	n, err := sp.append(testDocs(100, ""))
	if err == nil || n == 0 || n == 100 {
		t.Fatalf("append to a 2000-byte spool: n=%d err=%v; want some written then ErrSpoolFull", n, err)
	}
	b, docs, _ := sp.stats()
	if b > 2000 || docs != int64(n) {
		t.Errorf("spool holds %d bytes, %d docs; want <= 2000 bytes and %d docs", b, docs, n)
	}
	seg, recs, err := sp.oldest()
	if err != nil || len(recs) != n {
		t.Fatalf("oldest: %d records, err %v; want %d", len(recs), err, n)
	}
	if recs[3].doc.ID != "-000003" || string(recs[3].doc.Body) != string(testDocs(4, "")[3].Body) || !recs[3].doc.Time.Equal(day) {
		t.Errorf("record 3 = %+v, did not round-trip", recs[3].doc)
	}
	if err := sp.remove(seg); err != nil || !sp.empty() {
		t.Errorf("remove: err %v, empty %v", err, sp.empty())
	}
}

func TestTemplateMappings(t *testing.T) {
	body, err := templateBody("sflow", nil)
	if err != nil {
		t.Fatal(err)
	}
	var tmpl struct {
		IndexPatterns []string       `json:"index_patterns"`
		Mappings      map[string]any `json:"mappings"`
	}
	if err := json.Unmarshal(body, &tmpl); err != nil {
		t.Fatal(err)
	}
	lookup := func(path string) map[string]any {
		node := tmpl.Mappings
		for _, p := range strings.Split(path, ".") {
			props, _ := node["properties"].(map[string]any)
			next, _ := props[p].(map[string]any)
			if next == nil {
				fields, _ := node["fields"].(map[string]any)
				next, _ = fields[p].(map[string]any)
			}
			if next == nil {
				return nil
			}
			node = next
		}
		return node
	}
	tests := []struct{ field, typ string }{
		{"@timestamp", "date"},
		{"network.bytes", "long"},
		{"source.ip", "ip"},
		{"observer.ip", "ip"},
		{"organization.id", "keyword"},
		{"message", "text"},
		{"source.as.organization.name.text", "text"},
		{"data_stream.dataset", "keyword"},
		{"sflow.sampling_rate", "long"},
		{"sflow.router.next_hop", "ip"},
	}
	for _, tc := range tests {
		t.Run(tc.field, func(t *testing.T) {
			m := lookup(tc.field)
			if m == nil || m["type"] != tc.typ {
				t.Errorf("mapping of %s = %v, want type %s", tc.field, m, tc.typ)
			}
		})
	}
	if m := lookup("event.original"); m == nil || m["index"] != false {
		t.Errorf("event.original = %v, want index false", m)
	}
	if len(tmpl.IndexPatterns) == 0 || !strings.HasPrefix(tmpl.IndexPatterns[0], "sflow-") {
		t.Errorf("index patterns %v", tmpl.IndexPatterns)
	}
}

func TestRedactAndCredentials(t *testing.T) {
	tests := []struct{ in, want string }{
		{"http://elastic:s3cret@127.0.0.1:9200", "http://REDACTED@127.0.0.1:9200"},
		{"https://127.0.0.1:9200", "https://127.0.0.1:9200"},
	}
	for _, tc := range tests {
		if got := output.RedactURL(tc.in); got != tc.want || strings.Contains(got, "s3cret") {
			t.Errorf("Redact(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
	c := Config{URLs: []string{"http://elastic:s3cret@127.0.0.1:9200"}}
	c.extractCredentials()
	if c.Username != "elastic" || c.Password != "s3cret" || strings.Contains(c.URLs[0], "s3cret") {
		t.Errorf("extractCredentials: %+v", c)
	}
	c2 := Config{}
	c2.ApplyEnv(func(k string) string { return map[string]string{"ELASTICSEARCH_API_KEY": "k"}[k] })
	if c2.APIKey != "k" {
		t.Errorf("ApplyEnv: api key %q", c2.APIKey)
	}
}

func TestIndexName(t *testing.T) {
	tests := []struct{ dataset, tenant, want string }{
		{"sflow.flow", "", "sflow-flow-default-2026.11.27"},
		{"sflow.counters", "blue", "sflow-counters-blue-2026.11.27"},
		{"sflow.flow", "A/b", "sflow-flow-a_b-2026.11.27"},
	}
	for _, tc := range tests {
		if got := IndexName("sflow", tc.dataset, tc.tenant, day.Add(13*time.Hour)); got != tc.want {
			t.Errorf("IndexName(%q,%q) = %q, want %q", tc.dataset, tc.tenant, got, tc.want)
		}
	}
}

func TestMetricNamesLint(t *testing.T) {
	reg := prometheus.NewRegistry()
	m, err := newMetrics(reg, "elasticsearch")
	if err != nil {
		t.Fatal(err)
	}
	m.docs.Counter("", OutcomeIndexed).Inc()
	m.bulkDuration.Observe(0.1)
	m.bulkBytes.Observe(2048)
	m.bulkErrors.Inc()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	problems, err := promlint.NewWithMetricFamilies(mfs).Lint()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("promlint: %s: %s", p.Metric, p.Text)
	}
}

func gaugeValue(c prometheus.Metric) float64 {
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		return -1
	}
	if m.Counter != nil {
		return m.Counter.GetValue()
	}
	return m.Gauge.GetValue()
}

func TestSpoolAlternateWhenLocked(t *testing.T) {
	base := filepath.Join(t.TempDir(), "spool")
	dirs := []string{base, base + ".1", base + ".2"}
	var open []*spool
	for i := range dirs {
		sp, err := openFirstSpool(dirs, 1<<20, time.Now)
		if err != nil {
			t.Fatalf("spool %d: %v", i, err)
		}
		if sp.dir != dirs[i] {
			t.Errorf("spool %d in %s, want %s", i, sp.dir, dirs[i])
		}
		open = append(open, sp)
	}
	if _, err := openFirstSpool(dirs, 1<<20, time.Now); !errors.Is(err, ErrSpoolInUse) {
		t.Errorf("all directories locked: err = %v, want ErrSpoolInUse", err)
	}
	open[0].close()
	sp, err := openFirstSpool(dirs, 1<<20, time.Now)
	if err != nil || sp.dir != base {
		t.Fatalf("after the first closed: %v, %v; want %s again", sp, err, base)
	}
	sp.close()
	for _, sp := range open[1:] {
		sp.close()
	}
}

// TestSpoolAdoptedFromStoppedSink: a collector stopped while the cluster was
// unreachable leaves its spool; a running sink of the same output delivers
// it once the cluster is back, removes the emptied directory, and leaves a
// spool alone while its owner still holds it.
func TestSpoolAdoptedFromStoppedSink(t *testing.T) {
	// Registered first, so it runs after the sinks' cleanups closed them.
	prev := adoptEvery
	t.Cleanup(func() { adoptEvery = prev })
	adoptEvery = 100 * time.Millisecond
	f := newFakeES(t)
	f.set(func(f *fakeES) { f.down = true })
	base := filepath.Join(t.TempDir(), "sflow-abc")

	// A collector that stopped with 40 documents spooled.
	gone, err := New(Config{URLs: []string{f.srv.URL}, SpoolDir: base + ".pid-1", FlushInterval: 20 * time.Millisecond},
		Deps{Metrics: prometheus.NewRegistry()})
	if err != nil {
		t.Fatal(err)
	}
	if err := gone.Write(context.Background(), testDocs(40, "gone")); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	_ = gone.Close(ctx)
	cancel()
	// A collector still running (it holds its spool) with 5 spooled.
	live, err := openSpool(base+".pid-2", 1<<20, time.Now)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := live.append(testDocs(5, "live")); err != nil {
		t.Fatal(err)
	}

	f.set(func(f *fakeES) { f.down = false })
	s, reg := newTestSink(t, f.srv.URL, func(c *Config) {
		c.SpoolDir = base
		c.SpoolAdopt = []string{base, base + ".*"}
	})
	if err := live.markOutput(s.outputID()); err != nil {
		t.Fatal(err)
	}
	// Not adopted: another output's spool (its marker differs), and a
	// directory that only looks like a spool.
	other, err := openSpool(base+".other", 1<<20, time.Now)
	if err != nil {
		t.Fatal(err)
	}
	other.append(testDocs(3, "other"))
	other.markOutput("elasticsearch 0123456789abcdef")
	other.close()
	os.MkdirAll(base+".bak", 0o750)
	os.WriteFile(filepath.Join(base+".bak", "notes.txt"), []byte("keep me"), 0o640)
	if err := s.Write(context.Background(), testDocs(10, "own")); err != nil {
		t.Fatal(err)
	}
	flush(t, s, 5*time.Second)
	waitFor(t, 5*time.Second, func() bool { return f.count() == 50 })
	// The directory goes once its last segment is delivered and removed.
	waitFor(t, 5*time.Second, func() bool {
		_, err := os.Stat(base + ".pid-1")
		return errors.Is(err, os.ErrNotExist)
	})
	waitFor(t, 5*time.Second, func() bool { return metricValue(reg, "elk_sink_spool_adopted_documents_total") >= 40 })
	if got := metricValue(reg, "elk_sink_spool_adopted_documents_total"); got != 40 {
		t.Errorf("adopted documents metric %v, want 40", got)
	}
	if got := docsMetric(reg, "gone", OutcomeIndexed); got != 40 {
		t.Errorf("indexed documents of the stopped collector %v, want 40", got)
	}
	// The live collector's spool is untouched while it holds it...
	time.Sleep(3 * adoptEvery)
	if got := f.count(); got != 50 {
		t.Fatalf("%d documents indexed, want 50: a held spool was drained", got)
	}
	// ...and adopted once it lets go.
	if err := live.close(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, func() bool { return f.count() == 55 })
	if _, err := os.Stat(base); err != nil {
		t.Errorf("the sink's own spool directory was removed: %v", err)
	}
	if b, err := os.ReadFile(filepath.Join(base+".bak", "notes.txt")); string(b) != "keep me" {
		t.Errorf("a directory that is no spool was touched: %q, %v", b, err)
	}
	if sp, err := openSpool(base+".other", 1<<20, time.Now); err != nil {
		t.Errorf("another output's spool: %v", err)
	} else {
		if _, n, _ := sp.stats(); n != 3 {
			t.Errorf("another output's spool holds %d documents, want its 3", n)
		}
		sp.close()
	}
	// Counted once each segment is delivered and removed, just after the
	// cluster acknowledged its documents.
	waitFor(t, 5*time.Second, func() bool { return metricValue(reg, "elk_sink_spool_adopted_documents_total") >= 45 })
	if got := metricValue(reg, "elk_sink_spool_adopted_documents_total"); got != 45 {
		t.Errorf("adopted documents metric %v, want 45 (40 + 5)", got)
	}
}

// TestSpoolRemoveDirKeepsForeignFiles: an emptied spool directory is
// removed only when it holds nothing but the spool's own files.
func TestSpoolRemoveDirKeepsForeignFiles(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "spool.x")
	sp, err := openSpool(dir, 1<<20, time.Now)
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "important.txt"), []byte("x"), 0o640)
	if err := sp.removeDir(); err == nil {
		t.Error("removeDir succeeded on a directory with a foreign file")
	}
	if _, err := os.Stat(filepath.Join(dir, "important.txt")); err != nil {
		t.Errorf("foreign file gone: %v", err)
	}
	os.Remove(filepath.Join(dir, "important.txt"))
	sp, err = openSpool(dir, 1<<20, time.Now)
	if err != nil {
		t.Fatal(err)
	}
	if err := sp.removeDir(); err != nil {
		t.Errorf("removeDir of an empty spool: %v", err)
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("empty spool dir still there: %v", err)
	}
	if _, err := sp.append(testDocs(1, "t")); !errors.Is(err, errSpoolClosed) {
		t.Errorf("append after removal: %v, want errSpoolClosed", err)
	}
}

func waitFor(t *testing.T, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("condition not met within %s", d)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func metricValue(reg *prometheus.Registry, name string) float64 {
	mfs, _ := reg.Gather()
	for _, mf := range mfs {
		if mf.GetName() == name {
			v := 0.0
			for _, m := range mf.GetMetric() {
				v += m.GetCounter().GetValue() + m.GetGauge().GetValue()
			}
			return v
		}
	}
	return 0
}

// TestCloseDuringOutageLeavesSpool: a sink closing while the cluster is
// unreachable returns as soon as nothing is in flight (a stopping collector
// must not outlive its kill grace period), without error, and every
// document is in the spool for the next sink.
func TestCloseDuringOutageLeavesSpool(t *testing.T) {
	f := newFakeES(t)
	dir := t.TempDir()
	reg := prometheus.NewRegistry()
	s, err := New(Config{URLs: []string{f.srv.URL}, SpoolDir: dir, FlushInterval: 20 * time.Millisecond}, Deps{Metrics: reg})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Write(context.Background(), testDocs(10, "t1")); err != nil {
		t.Fatal(err)
	}
	flush(t, s, 5*time.Second)
	f.set(func(f *fakeES) { f.down = true })
	// In flight when the cluster goes away, then written while it is away.
	if err := s.Write(context.Background(), testDocs(30, "t2")); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	start := time.Now()
	if err := s.Close(ctx); err != nil {
		t.Fatalf("Close during the outage: %v", err)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("Close took %s during the outage; want it back once everything is spooled", took)
	}
	sp, err := openSpool(dir, 1<<30, time.Now)
	if err != nil {
		t.Fatal(err)
	}
	defer sp.close()
	_, n, _ := sp.stats()
	if got := float64(f.count()) + float64(n); got != 40 || n == 0 {
		t.Errorf("indexed %d + spooled %d = %v, want 40 with the outage's documents spooled", f.count(), n, got)
	}
	if failed := docsMetric(reg, "t2", OutcomeFailed); failed != 0 {
		t.Errorf("%v documents counted as failed", failed)
	}
}

// TestCloseAbandonsRequestsToASilentCluster: a cluster that accepts the
// connection and never answers (a black hole) would hold the documents in
// flight past the kill grace; Close abandons those requests after
// CloseGrace and spools the documents, losing none.
func TestCloseAbandonsRequestsToASilentCluster(t *testing.T) {
	f := newFakeES(t)
	stall := make(chan struct{})
	defer close(stall)
	dir := t.TempDir()
	reg := prometheus.NewRegistry()
	s, err := New(Config{URLs: []string{f.srv.URL}, SpoolDir: dir, FlushInterval: 20 * time.Millisecond,
		CloseGrace: 500 * time.Millisecond}, Deps{Metrics: reg})
	if err != nil {
		t.Fatal(err)
	}
	f.set(func(f *fakeES) { f.stall = stall })
	if err := s.Write(context.Background(), testDocs(25, "t")); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond) // the bulk request is in flight, unanswered
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	start := time.Now()
	if err := s.Close(ctx); err != nil {
		t.Errorf("Close: %v", err)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("Close took %s with a silent cluster; want about CloseGrace", took)
	}
	sp, err := openSpool(dir, 1<<30, time.Now)
	if err != nil {
		t.Fatal(err)
	}
	defer sp.close()
	if _, n, _ := sp.stats(); n != 25 {
		t.Errorf("%d documents spooled, want all 25", n)
	}
	if failed := docsMetric(reg, "t", OutcomeFailed); failed != 0 {
		t.Errorf("%v documents counted as failed", failed)
	}
}
