package main

import (
	"bytes"
	"encoding/json"
	"os"
	"strings"
	"testing"
)

func runBlueprint(t *testing.T, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	cmd := newBlueprintCmd()
	var out, errb bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&errb)
	cmd.SetArgs(args)
	cmd.SilenceUsage, cmd.SilenceErrors = true, true
	err = cmd.Execute()
	return out.String(), errb.String(), err
}

func TestBlueprintValidate(t *testing.T) {
	for _, tc := range []struct {
		name    string
		args    []string
		wantErr string
		want    []string // substrings of stdout+stderr
	}{
		{"library", []string{"validate", "../../blueprints/library/sflow-stack.yaml", "../../blueprints/library/local-demo.yaml"}, "",
			[]string{"sflow-stack.yaml: ok: application sflow (target nomad), 8 entities", "local-demo.yaml: ok"}},
		{"bad and good", []string{"validate", "../../blueprints/testdata/bad/cycle.yaml", "../../blueprints/library/tenant-stack.yaml"},
			"1 of 2 blueprints invalid", []string{"bad/cycle.yaml:10:18: b.depends_on: cycle: a -> c -> b -> a", "tenant-stack.yaml: ok"}},
		{"missing file", []string{"validate", "nope.yaml"}, "1 of 1 blueprints invalid", []string{"no such blueprint"}},
		{"local demo runs here", []string{"validate", "--on", "local", "../../blueprints/library/local-demo.yaml"}, "", []string{"local-demo.yaml: ok"}},
		{"bad --on", []string{"validate", "--on", "k8s", "../../blueprints/library/local-demo.yaml"}, `--on "k8s": want local or nomad`, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, errOut, err := runBlueprint(t, tc.args...)
			if (err == nil) != (tc.wantErr == "") || (err != nil && err.Error() != tc.wantErr) {
				t.Fatalf("error %v, want %q", err, tc.wantErr)
			}
			for _, w := range tc.want {
				if !strings.Contains(out+errOut, w) {
					t.Errorf("output lacks %q:\n%s%s", w, out, errOut)
				}
			}
		})
	}
}

func TestBlueprintValidateJSON(t *testing.T) {
	out, _, err := runBlueprint(t, "validate", "-o", "json", "../../blueprints/testdata/bad/dangling.yaml")
	if err == nil {
		t.Fatal("no error for a bad blueprint")
	}
	var res []bpFileResult
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("%v:\n%s", err, out)
	}
	if len(res) != 1 || res[0].Valid || len(res[0].Errors) != 2 || res[0].Errors[0].Line != 6 || res[0].Errors[0].Col != 18 {
		t.Errorf("result %+v", res)
	}
}

func TestBlueprintRender(t *testing.T) {
	out, _, err := runBlueprint(t, "render", "--elk-binary", "/usr/local/bin/elk", "../../blueprints/library/sflow-stack.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var jobs []map[string]any
	if err := json.Unmarshal([]byte(out), &jobs); err != nil {
		t.Fatalf("%v:\n%s", err, out)
	}
	var ids []string
	for _, j := range jobs {
		ids = append(ids, j["ID"].(string))
	}
	want := "sflow-elasticsearch sflow-kafka sflow-ingest sflow-collector sflow-kibana sflow-es-exporter sflow-agent sflow-prometheus"
	if strings.Join(ids, " ") != want {
		t.Errorf("jobs %v, want %s (start order)", ids, want)
	}
	if strings.Contains(out, "null") {
		t.Errorf("render output keeps null fields")
	}
	task := jobs[3]["TaskGroups"].([]any)[0].(map[string]any)["Tasks"].([]any)[0].(map[string]any)
	if task["Driver"] != "raw_exec" || task["Config"].(map[string]any)["command"] != "/usr/local/bin/elk" {
		t.Errorf("collector task %v", task)
	}
}

// TestRenderGolden keeps deploy/nomad/sflow-stack.jobs.json equal to what
// `elk blueprint render` prints.
func TestRenderGolden(t *testing.T) {
	out, _, err := runBlueprint(t, "render", "--elk-binary", "/usr/local/bin/elk", "../../blueprints/library/sflow-stack.yaml")
	if err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile("../../deploy/nomad/sflow-stack.jobs.json")
	if err != nil {
		t.Fatal(err)
	}
	if out != string(want) {
		t.Errorf("deploy/nomad/sflow-stack.jobs.json is stale: regenerate it with\n  elk blueprint render --elk-binary /usr/local/bin/elk blueprints/library/sflow-stack.yaml > deploy/nomad/sflow-stack.jobs.json")
	}
}
