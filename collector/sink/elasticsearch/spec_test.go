package elasticsearch

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/elk-project/elk/collector/output"
)

func parseSpec(t *testing.T, url string) output.Spec {
	t.Helper()
	s, err := output.Parse("elasticsearch:" + url)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func collectorOutput(t *testing.T, state, url string, getenv func(string) string, log *slog.Logger) (Config, error) {
	t.Helper()
	return Collector(parseSpec(t, url), state, getenv, log)
}

func ingestOutput(t *testing.T, url string) (Config, error) {
	t.Helper()
	return Ingest(parseSpec(t, url), func(string) string { return "" })
}

// Credentials come from the URL or, unset there, the environment.
func TestSpecCredentials(t *testing.T) {
	env := map[string]string{"ELASTICSEARCH_PASSWORD": "from-env", "ELASTICSEARCH_USERNAME": "envuser"}
	cfg, err := Ingest(parseSpec(t, "https://elk:pw@es:9200?index_prefix=x&workers=3"), func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	if cfg.URLs[0] != "https://elk:pw@es:9200" || cfg.IndexPrefix != "x" || cfg.Workers != 3 || cfg.Username != "envuser" {
		t.Errorf("config %+v", cfg)
	}
	cfg.extractCredentials()
	if cfg.URLs[0] != "https://es:9200" || cfg.Password != "from-env" {
		t.Errorf("after extraction: %v %q", cfg.URLs, cfg.Password)
	}
	if _, err := FromSpec(output.Spec{Kind: output.Kafka}); err == nil {
		t.Error("FromSpec of a kafka output: no error")
	}
}

func TestCollectorESOutputSpoolsByDefault(t *testing.T) {
	state := t.TempDir()
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	none := env(nil)

	a, err := collectorOutput(t, state, "http://127.0.0.1:9200", none, discardLog)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(a.SpoolDir, filepath.Join(state, "spool", "sflow-")) {
		t.Errorf("default spool dir %q, want it under %s/elk/spool/sflow-", a.SpoolDir, state)
	}
	withCreds, _ := collectorOutput(t, state, "http://u:p@127.0.0.1:9200/?flush_interval=1s", none, discardLog)
	if withCreds.SpoolDir != a.SpoolDir {
		t.Errorf("credentials or options changed the spool dir: %q vs %q", withCreds.SpoolDir, a.SpoolDir)
	}
	other, _ := collectorOutput(t, state, "http://127.0.0.1:9201", none, discardLog)
	prefixed, _ := collectorOutput(t, state, "http://127.0.0.1:9200?index_prefix=lab", none, discardLog)
	if other.SpoolDir == a.SpoolDir || prefixed.SpoolDir == a.SpoolDir || !strings.Contains(prefixed.SpoolDir, "lab-") {
		t.Errorf("outputs to different clusters or prefixes share a spool: %q %q %q", a.SpoolDir, other.SpoolDir, prefixed.SpoolDir)
	}
	off, _ := collectorOutput(t, state, "http://127.0.0.1:9200?spool=off", none, discardLog)
	if off.SpoolDir != "" || len(off.SpoolAlternates) != 0 {
		t.Errorf("spool=off: dir %q alternates %v, want none", off.SpoolDir, off.SpoolAlternates)
	}
	explicit, _ := collectorOutput(t, state, "http://127.0.0.1:9200?spool=/var/spool/elk", env(map[string]string{"ELK_INSTANCE": "3"}), discardLog)
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
	odd, _ := collectorOutput(t, state, "http://127.0.0.1:9200?spool=/var/spool/e[1]*", none, discardLog)
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
	// a file: no directory can be made under it
	cfg, err := collectorOutput(t, state, "http://127.0.0.1:9200", func(string) string { return "" }, discardLog)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.SpoolDir != "" {
		t.Errorf("spool dir %q under an unusable state dir, want the output to run without a spool", cfg.SpoolDir)
	}
}

var discardLog = slog.New(slog.DiscardHandler)

func TestIngestESOutputNeverSpools(t *testing.T) {
	cfg, err := ingestOutput(t, "http://127.0.0.1:9200?index_prefix=sflow")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.SpoolDir != "" || len(cfg.SpoolAlternates) != 0 {
		t.Errorf("ingest spools to %q %v; it must rely on uncommitted offsets", cfg.SpoolDir, cfg.SpoolAlternates)
	}
	if _, err := ingestOutput(t, "http://127.0.0.1:9200?spool=/tmp/x"); err == nil || !strings.Contains(err.Error(), "does not spool") {
		t.Errorf("ingest with spool=DIR: err = %v, want a refusal", err)
	}
	if cfg, err := ingestOutput(t, "http://127.0.0.1:9200?spool=off"); err != nil || cfg.SpoolDir != "" {
		t.Errorf("ingest with spool=off: %v %q", err, cfg.SpoolDir)
	}
}

func TestESOutputCloseGrace(t *testing.T) {
	cfg, err := collectorOutput(t, t.TempDir(), "http://127.0.0.1:9200?close_grace=3s", func(string) string { return "" }, discardLog)
	if err != nil || cfg.CloseGrace != 3*time.Second {
		t.Errorf("close_grace=3s: %v, %v", cfg.CloseGrace, err)
	}
}
