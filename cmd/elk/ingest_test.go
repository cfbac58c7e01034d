package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/elk-project/elk/collector/sink"
)

func TestParseESOutput(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		check   func(t *testing.T, url, spool, prefix string, workers int, flush time.Duration, user, pass string)
		wantErr string
	}{
		{
			name: "plain",
			in:   "http://127.0.0.1:9200",
			check: func(t *testing.T, url, spool, prefix string, workers int, flush time.Duration, user, pass string) {
				if url != "http://127.0.0.1:9200" || spool != "" || prefix != "" {
					t.Errorf("got url %q spool %q prefix %q", url, spool, prefix)
				}
			},
		},
		{
			name: "options and credentials",
			in:   "https://elastic:s3cret@es:9200?spool=/var/lib/elk/spool&index_prefix=sflow&workers=4&flush_interval=250ms",
			check: func(t *testing.T, url, spool, prefix string, workers int, flush time.Duration, user, pass string) {
				if strings.Contains(url, "?") || strings.Contains(url, "spool") {
					t.Errorf("options left in url %q", url)
				}
				if spool != "/var/lib/elk/spool" || prefix != "sflow" || workers != 4 || flush != 250*time.Millisecond {
					t.Errorf("got spool %q prefix %q workers %d flush %s", spool, prefix, workers, flush)
				}
			},
		},
		{name: "unknown option", in: "http://es:9200?spol=/x", wantErr: `unknown option "spol"`},
		{name: "bad number", in: "http://es:9200?workers=many", wantErr: "workers"},
		{name: "secret not echoed", in: "http://u:s3cret@es:9200?bogus=1", wantErr: "REDACTED"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("ELASTICSEARCH_USERNAME", "")
			t.Setenv("ELASTICSEARCH_PASSWORD", "")
			t.Setenv("ELASTICSEARCH_API_KEY", "")
			cfg, err := parseESOutput(tc.in)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want it to contain %q", err, tc.wantErr)
				}
				if strings.Contains(err.Error(), "s3cret") {
					t.Errorf("error leaks the password: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tc.check(t, cfg.URLs[0], cfg.SpoolDir, cfg.IndexPrefix, cfg.Workers, cfg.FlushInterval, cfg.Username, cfg.Password)
		})
	}
}

func TestCollectorESOutputSpoolsByDefault(t *testing.T) {
	state := t.TempDir()
	t.Setenv("XDG_STATE_HOME", state)
	t.Setenv("ELASTICSEARCH_USERNAME", "")
	t.Setenv("ELASTICSEARCH_PASSWORD", "")
	t.Setenv("ELASTICSEARCH_API_KEY", "")
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	none := env(nil)

	a, err := collectorESOutput("http://127.0.0.1:9200", none, discardLog)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(a.SpoolDir, filepath.Join(state, "elk", "spool", "sflow-")) {
		t.Errorf("default spool dir %q, want it under %s/elk/spool/sflow-", a.SpoolDir, state)
	}
	withCreds, _ := collectorESOutput("http://u:p@127.0.0.1:9200/?flush_interval=1s", none, discardLog)
	if withCreds.SpoolDir != a.SpoolDir {
		t.Errorf("credentials or options changed the spool dir: %q vs %q", withCreds.SpoolDir, a.SpoolDir)
	}
	other, _ := collectorESOutput("http://127.0.0.1:9201", none, discardLog)
	prefixed, _ := collectorESOutput("http://127.0.0.1:9200?index_prefix=lab", none, discardLog)
	if other.SpoolDir == a.SpoolDir || prefixed.SpoolDir == a.SpoolDir || !strings.Contains(prefixed.SpoolDir, "lab-") {
		t.Errorf("outputs to different clusters or prefixes share a spool: %q %q %q", a.SpoolDir, other.SpoolDir, prefixed.SpoolDir)
	}
	off, _ := collectorESOutput("http://127.0.0.1:9200?spool=off", none, discardLog)
	if off.SpoolDir != "" || len(off.SpoolAlternates) != 0 {
		t.Errorf("spool=off: dir %q alternates %v, want none", off.SpoolDir, off.SpoolAlternates)
	}
	explicit, _ := collectorESOutput("http://127.0.0.1:9200?spool=/var/spool/elk", env(map[string]string{"ELK_INSTANCE": "3"}), discardLog)
	if explicit.SpoolDir != "/var/spool/elk" {
		t.Errorf("spool=DIR gave %q", explicit.SpoolDir)
	}
	want := []string{"/var/spool/elk.3", fmt.Sprintf("/var/spool/elk.pid-%d", os.Getpid())}
	if alt := explicit.SpoolAlternates; len(alt) != 3 || !slices.Equal(alt[:2], want) || !strings.HasPrefix(alt[2], "/var/spool/elk.run-") {
		t.Errorf("alternates %v, want %v then a unique /var/spool/elk.run-…", alt, want)
	}
	want = explicit.SpoolAlternates
	// Every spool of the output is adopted by the collectors still running,
	// and the patterns match the alternates (and nothing else).
	for _, dir := range append([]string{explicit.SpoolDir}, want...) {
		if !matchesAny(explicit.SpoolAdopt, dir) {
			t.Errorf("spool %s is not matched by the adopt patterns %v", dir, explicit.SpoolAdopt)
		}
	}
	if matchesAny(explicit.SpoolAdopt, "/var/spool/elk-other") {
		t.Errorf("adopt patterns %v match another output's spool", explicit.SpoolAdopt)
	}
	if off.SpoolAdopt != nil {
		t.Errorf("spool=off adopts %v", off.SpoolAdopt)
	}
	odd, _ := collectorESOutput("http://127.0.0.1:9200?spool=/var/spool/e[1]*", none, discardLog)
	if !matchesAny(odd.SpoolAdopt, "/var/spool/e[1]*.pid-7") || matchesAny(odd.SpoolAdopt, "/var/spool/e1x.pid-7") {
		t.Errorf("glob characters in the spool path are not quoted: %v", odd.SpoolAdopt)
	}
}

func matchesAny(patterns []string, p string) bool {
	for _, pat := range patterns {
		if ok, _ := filepath.Match(pat, p); ok {
			return true
		}
	}
	return false
}

func TestCollectorESOutputUnwritableStateDir(t *testing.T) {
	state := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(state, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("XDG_STATE_HOME", state) // a file: no directory can be made under it
	cfg, err := collectorESOutput("http://127.0.0.1:9200", func(string) string { return "" }, discardLog)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.SpoolDir != "" {
		t.Errorf("spool dir %q under an unusable state dir, want the output to run without a spool", cfg.SpoolDir)
	}
}

var discardLog = slog.New(slog.DiscardHandler)

func TestIngestESOutputNeverSpools(t *testing.T) {
	t.Setenv("XDG_STATE_HOME", t.TempDir())
	cfg, err := ingestESOutput("http://127.0.0.1:9200?index_prefix=sflow")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.SpoolDir != "" || len(cfg.SpoolAlternates) != 0 {
		t.Errorf("ingest spools to %q %v; it must rely on uncommitted offsets", cfg.SpoolDir, cfg.SpoolAlternates)
	}
	if _, err := ingestESOutput("http://127.0.0.1:9200?spool=/tmp/x"); err == nil || !strings.Contains(err.Error(), "does not spool") {
		t.Errorf("ingest with spool=DIR: err = %v, want a refusal", err)
	}
	if cfg, err := ingestESOutput("http://127.0.0.1:9200?spool=off"); err != nil || cfg.SpoolDir != "" {
		t.Errorf("ingest with spool=off: %v %q", err, cfg.SpoolDir)
	}
}

// Two collectors on one machine with the same output (the local target runs
// several instances of one spec) must not share a spool directory.
func TestCollectorESOutputsDoNotShareSpool(t *testing.T) {
	state := t.TempDir()
	t.Setenv("XDG_STATE_HOME", state)
	t.Setenv("ELK_INSTANCE", "2")
	spec := "elasticsearch:http://127.0.0.1:1?flush_interval=50ms" // nothing listens: the sinks spool
	log := slog.New(slog.DiscardHandler)
	var dirs []string
	for i := range 3 {
		s, ok, err := openPipelineOutput(spec, log, prometheus.NewRegistry())
		if !ok || err != nil {
			t.Fatalf("output %d: ok %v err %v", i, ok, err)
		}
		t.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
			defer cancel()
			_ = s.Close(ctx)
		})
		docs := []sink.Doc{{ID: fmt.Sprintf("doc-%d", i), Dataset: "sflow.flow", Time: time.Now(), Body: []byte(`{}`)}}
		wctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err = s.Write(wctx, docs)
		cancel()
		if err != nil {
			t.Fatalf("output %d: write while the cluster is down: %v (want it spooled, not blocked)", i, err)
		}
	}
	matches, _ := filepath.Glob(filepath.Join(state, "elk", "spool", "sflow-*", "*.spool"))
	for _, m := range matches {
		dirs = append(dirs, filepath.Base(filepath.Dir(m)))
	}
	slices.Sort(dirs)
	if len(dirs) != 3 || dirs[0] == dirs[1] || dirs[1] == dirs[2] {
		t.Fatalf("spool segments in %v, want one in each of 3 distinct directories", dirs)
	}
	if !strings.HasSuffix(dirs[1], ".2") || !strings.HasSuffix(dirs[2], fmt.Sprintf(".pid-%d", os.Getpid())) {
		t.Errorf("spool dirs %v, want DIR, DIR.2 (ELK_INSTANCE) and DIR.pid-%d", dirs, os.Getpid())
	}
}

func TestESOutputCloseGrace(t *testing.T) {
	cfg, err := parseESOutput("http://127.0.0.1:9200?close_grace=3s")
	if err != nil || cfg.CloseGrace != 3*time.Second {
		t.Errorf("close_grace=3s: %v, %v", cfg.CloseGrace, err)
	}
	if _, err := parseESOutput("http://127.0.0.1:9200?close_grace=soon"); err == nil || !strings.Contains(err.Error(), "close_grace") {
		t.Errorf("close_grace=soon: err = %v, want one naming close_grace", err)
	}
}
