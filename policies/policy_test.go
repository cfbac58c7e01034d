package policies

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

func TestLoadGoodPolicies(t *testing.T) {
	files, err := filepath.Glob("testdata/good/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no good policies: %v", err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			p, err := Load(f)
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			data, err := p.Marshal()
			if err != nil {
				t.Fatal(err)
			}
			back, err := ParseBytes("roundtrip", data, true)
			if err != nil {
				t.Fatalf("parse marshalled policy: %v\n%s", err, data)
			}
			if !reflect.DeepEqual(p, back) {
				t.Errorf("round trip changed the policy:\nwas  %+v\nnow  %+v\n%s", p, back, data)
			}
		})
	}
}

func TestLoadCollectorsPolicy(t *testing.T) {
	p, err := Load("testdata/good/collectors.yaml")
	if err != nil {
		t.Fatal(err)
	}
	want := &Policy{
		Target: Target{App: "demo", Entity: "collectors"}, Min: 1, Max: 8,
		EvaluationInterval: 5 * time.Second,
		Checks: []Check{{
			Name:         "ingest",
			Query:        `sum(rate(elk_collector_agent_samples_total{type="flow"}[1m]))`,
			Strategy:     Strategy{Kind: TargetValue, Target: 20000, Input: Total},
			OnMissing:    OnMissing{Mode: UpOnly},
			MaxStaleness: time.Minute,
		}},
		Controls: Controls{StabilizationUp: 10 * time.Second, StabilizationDown: 2 * time.Minute,
			MaxStepDown: Step{Count: 2}, Tolerance: 0.1, Warmup: 15 * time.Second},
	}
	if !reflect.DeepEqual(p, want) {
		t.Errorf("got  %+v\nwant %+v", p, want)
	}
}

func TestBadPolicyReportsEveryErrorWithPosition(t *testing.T) {
	files, _ := filepath.Glob("testdata/bad/*.yaml")
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			_, err = ParseBytes(filepath.Base(f), data, true)
			if err == nil {
				t.Fatal("expected errors, got none")
			}
			want, err2 := os.ReadFile(strings.TrimSuffix(f, ".yaml") + ".errors")
			if err2 != nil {
				t.Fatal(err2)
			}
			got := strings.TrimSpace(err.Error())
			if got != strings.TrimSpace(string(want)) {
				t.Errorf("errors differ\ngot:\n%s\nwant:\n%s", got, want)
			}
		})
	}
}

func TestParseBlueprintNode(t *testing.T) {
	src := "entities:\n  collectors:\n    policies:\n      max: 4\n      checks:\n        - name: q\n          query: up\n          strategy: {target-value: {target: 1}}\n"
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte(src), &doc); err != nil {
		t.Fatal(err)
	}
	node := doc.Content[0].Content[1].Content[1].Content[1]
	p, err := Parse("bp.yaml", node)
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	if p.Max != 4 || p.Checks[0].Name != "q" || p.Target.App != "" {
		t.Errorf("unexpected policy %+v", p)
	}
	bad := doc.Content[0].Content[1].Content[1]
	_, err = Parse("bp.yaml", bad)
	if err == nil || !strings.Contains(err.Error(), "bp.yaml:3:5: policy: unknown field \"policies\"") {
		t.Errorf("want a positioned error, got %v", err)
	}
}

func TestSet(t *testing.T) {
	p, err := Load("testdata/good/collectors.yaml")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		assign  []string
		check   func(*Policy) bool
		wantErr string
	}{
		{"max", []string{"max=12"}, func(p *Policy) bool { return p.Max == 12 }, ""},
		{"nested new key", []string{"controls.max_step.up.count=3"}, func(p *Policy) bool { return p.Controls.MaxStepUp.Count == 3 }, ""},
		{"check by name", []string{"checks.ingest.strategy.target-value.target=25000"}, func(p *Policy) bool { return p.Checks[0].Strategy.Target == 25000 }, ""},
		{"check by index", []string{"checks.0.on_missing=fallback 3"}, func(p *Policy) bool { return p.Checks[0].OnMissing == OnMissing{Mode: Fallback, Count: 3} }, ""},
		{"invalid value rejected", []string{"max=0"}, nil, "max: must be at least 1"},
		{"unknown key rejected", []string{"controls.cooldown=5m"}, nil, `unknown field "cooldown"`},
		{"not key=value", []string{"max"}, nil, "expected KEY=VALUE"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			np, err := p.Set(tc.assign...)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("want error containing %q, got %v", tc.wantErr, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !tc.check(np) {
				t.Errorf("change not applied: %+v", np)
			}
			if p.Max != 8 {
				t.Error("Set modified the original policy")
			}
		})
	}
}

func TestParseMetric(t *testing.T) {
	tests := []struct {
		in      string
		want    Metric
		wantErr bool
	}{
		{"up", Metric{Name: "up"}, false},
		{`q{type="write", a="b"}`, Metric{Name: "q", Labels: map[string]string{"type": "write", "a": "b"}}, false},
		{"rate(x_total[30s])", Metric{Name: "x_total", Rate: true, Window: 30 * time.Second}, false},
		{"rate(x_total)", Metric{}, true},
		{"sum(x)", Metric{}, true},
		{`x{a=b}`, Metric{}, true},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ParseMetric(tc.in)
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tc.wantErr)
			}
			if !tc.wantErr && !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %+v want %+v", got, tc.want)
			}
		})
	}
}
