package main

import (
	"bytes"
	"context"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"

	"github.com/elk-project/elk/policies"
	"github.com/elk-project/elk/policies/engine"
	"github.com/elk-project/elk/policies/source"
)

type cliScaler struct{ n int }

func (s *cliScaler) Current(context.Context, string, string) (int, bool, error) {
	return s.n, false, nil
}
func (s *cliScaler) Scale(_ context.Context, _, _ string, n int, _ policies.Decision) error {
	s.n = n
	return nil
}

func runPolicy(t *testing.T, args ...string) (string, error) {
	t.Helper()
	return runCommand(newPolicyCmd(), args...)
}

// runCommand runs cmd with args in process and returns what it printed.
func runCommand(cmd *cobra.Command, args ...string) (string, error) {
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&out)
	cmd.SetArgs(args)
	err := cmd.ExecuteContext(context.Background())
	return out.String(), err
}

func TestPolicyCommands(t *testing.T) {
	src := source.Func(func(context.Context, source.Query) (source.Sample, error) {
		return source.Sample{Value: 95000, Time: time.Now()}, nil
	})
	eng, err := engine.New(engine.Config{}, engine.Deps{Scaler: &cliScaler{n: 2}, Source: src})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(eng.Handler())
	defer srv.Close()
	t.Setenv("ELK_ADDR", srv.URL)
	good := filepath.Join("..", "..", "policies", "testdata", "good", "collectors.yaml")
	p, err := policies.Load(good)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := eng.Apply(p, "test", "file"); err != nil {
		t.Fatal(err)
	}
	eng.EvaluateNow(context.Background(), "demo", "collectors")
	eng.EvaluateNow(context.Background(), "demo", "collectors")

	tests := []struct {
		args    []string
		want    string
		wantErr string
	}{
		{[]string{"validate", good}, "collectors.yaml: ok", ""},
		{[]string{"validate", filepath.Join("..", "..", "policies", "testdata", "bad", "everything.yaml")}, "everything.yaml:3:6: max: 2 is below min 5", "1 of 1 policy files are invalid"},
		{[]string{"list"}, "demo/collectors", ""},
		{[]string{"show", "demo/collectors"}, "target-value:", ""},
		{[]string{"set", "demo/collectors", "max=6"}, "+max: 6", ""},
		{[]string{"set", "demo/collectors", "max=zero"}, "", "not an integer"},
		{[]string{"pin", "demo/collectors", "3", "--for", "1h"}, "pinned at 3", ""},
		{[]string{"unpin", "demo/collectors"}, "unpinned", ""},
		{[]string{"pause", "demo/collectors"}, "demo/collectors paused", ""},
		{[]string{"resume", "demo/collectors"}, "demo/collectors resumed", ""},
		{[]string{"history", "demo/collectors"}, "version 2", ""},
		{[]string{"explain", "demo/collectors", "--last", "2"}, "vote  ingest", ""},
		{[]string{"explain", "demo/collectors", "-o", "json"}, `"recommended": 5`, ""},
		{[]string{"show", "nope/none"}, "", "not found"},
	}
	for _, tc := range tests {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			out, err := runPolicy(t, tc.args...)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("want error %q, got %v", tc.wantErr, err)
				}
			} else if err != nil {
				t.Fatalf("%v\n%s", err, out)
			}
			if !strings.Contains(out, tc.want) {
				t.Errorf("output lacks %q:\n%s", tc.want, out)
			}
		})
	}
}

func TestPolicyEditValidatesBeforeSaving(t *testing.T) {
	eng, err := engine.New(engine.Config{}, engine.Deps{Scaler: &cliScaler{n: 2}, Source: source.Func(func(context.Context, source.Query) (source.Sample, error) {
		return source.Sample{}, source.ErrNoData
	})})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(eng.Handler())
	defer srv.Close()
	t.Setenv("ELK_ADDR", srv.URL)
	p, _ := policies.Load(filepath.Join("..", "..", "policies", "testdata", "good", "collectors.yaml"))
	if _, err := eng.Apply(p, "test", "file"); err != nil {
		t.Fatal(err)
	}
	// A scripted "editor" that breaks the policy, then one that fixes max.
	t.Setenv("EDITOR", "sed -i 's/^max: 8/max: -1/'")
	if _, err := runPolicy(t, "edit", "demo/collectors"); err == nil || !strings.Contains(err.Error(), "not saved") {
		t.Fatalf("bad edit: %v", err)
	}
	if _, v, _ := eng.Policy("demo", "collectors"); v != 1 {
		t.Fatalf("bad edit changed the policy to version %d", v)
	}
	t.Setenv("EDITOR", "sed -i 's/^max: 8/max: 7/'")
	out, err := runPolicy(t, "edit", "demo/collectors")
	if err != nil || !strings.Contains(out, "version 2") {
		t.Fatalf("good edit: %v\n%s", err, out)
	}
	if got, _, _ := eng.Policy("demo", "collectors"); got.Max != 7 {
		t.Errorf("max %d after edit, want 7", got.Max)
	}
}

func TestPolicySimulateCommand(t *testing.T) {
	dir := t.TempDir()
	rec := filepath.Join(dir, "r.csv")
	var b strings.Builder
	b.WriteString("time,value,series\n")
	for i := 0; i <= 300; i++ {
		v := 15000
		if i >= 100 && i < 200 {
			v = 70000
		}
		b.WriteString(time.Unix(1795748400+int64(i), 0).UTC().Format(time.RFC3339) + "," + strconv.Itoa(v) + ",\n")
	}
	if err := os.WriteFile(rec, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	svg := filepath.Join(dir, "p.svg")
	out, err := runPolicy(t, "simulate", filepath.Join("..", "..", "policies", "simulate", "testdata", "spike-policy.yaml"), "--metrics", rec, "--svg", svg)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if !strings.Contains(out, "actions: 2 (1 up, 1 down)") || !strings.Contains(out, "peak count: 4") {
		t.Errorf("summary:\n%s", out)
	}
	if data, err := os.ReadFile(svg); err != nil || !strings.HasPrefix(string(data), "<svg") {
		t.Errorf("svg: %v", err)
	}
}
