package file

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil/promlint"

	"github.com/elk-project/elk/collector/sink"
)

func lines(t *testing.T, path string) []string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		out = append(out, sc.Text())
	}
	return out
}

func TestWriteAndClose(t *testing.T) {
	path := filepath.Join(t.TempDir(), "out.ndjson")
	reg := prometheus.NewRegistry()
	s, err := New(Config{Path: path}, Deps{Metrics: reg})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	var docs []sink.Doc
	for i := 0; i < 100; i++ {
		docs = append(docs, sink.Doc{Body: fmt.Appendf(nil, `{"n":%d}`, i)})
	}
	if err := s.Write(ctx, docs); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(ctx); err != nil {
		t.Fatal(err)
	}
	got := lines(t, path)
	if len(got) != 100 {
		t.Fatalf("%d lines, want 100", len(got))
	}
	for i, l := range got {
		var v struct{ N int }
		if err := json.Unmarshal([]byte(l), &v); err != nil || v.N != i {
			t.Fatalf("line %d = %q (%v), want n=%d", i, l, err, i)
		}
	}
	// A second sink on the same registry shares the metric families.
	s2, err := New(Config{Path: path}, Deps{Metrics: reg})
	if err != nil {
		t.Fatalf("second sink on one registry: %v", err)
	}
	s2.Close(ctx)
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

func TestRotation(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "out.ndjson")
	s, err := New(Config{Path: path, MaxBytes: 100, MaxFiles: 2}, Deps{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	body := []byte(`{"pad":"0123456789012345678901234567890123456789"}`) // 50 bytes + newline
	for i := 0; i < 7; i++ {
		if err := s.Write(ctx, []sink.Doc{{Body: body}}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(ctx); err != nil {
		t.Fatal(err)
	}
	// 51-byte lines, 100-byte limit: one line per file; 7 writes → current
	// + .1 + .2 kept, older ones dropped.
	for _, name := range []string{path, path + ".1", path + ".2"} {
		if n := len(lines(t, name)); n != 1 {
			t.Errorf("%s has %d lines, want 1", name, n)
		}
	}
	if _, err := os.Stat(path + ".3"); !os.IsNotExist(err) {
		t.Errorf("%s.3 exists, want at most 2 rotated files", path)
	}
}

func TestAppendsToExistingFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "out.ndjson")
	os.WriteFile(path, []byte("{\"old\":1}\n"), 0o644)
	s, err := New(Config{Path: path}, Deps{})
	if err != nil {
		t.Fatal(err)
	}
	s.Write(context.Background(), []sink.Doc{{Body: []byte(`{"new":1}`)}})
	s.Close(context.Background())
	if n := len(lines(t, path)); n != 2 {
		t.Errorf("%d lines, want 2", n)
	}
}
