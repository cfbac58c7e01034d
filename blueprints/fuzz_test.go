package blueprints_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/elk-project/elk/blueprints"
	_ "github.com/elk-project/elk/orchestrator/catalog"
	"github.com/elk-project/elk/orchestrator/discovery"
)

// FuzzLoad feeds arbitrary bytes to the loader: it must never panic, and
// every error it returns must carry the file name and a position.
func FuzzLoad(f *testing.F) {
	for _, pattern := range []string{"library/*.yaml", "testdata/good/*.yaml", "testdata/bad/*.yaml"} {
		files, _ := filepath.Glob(pattern)
		for _, file := range files {
			data, err := os.ReadFile(file)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(data)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		app, err := blueprints.Parse("fuzz.yaml", data)
		if err != nil {
			if app != nil {
				t.Fatalf("an error and an application")
			}
			for _, line := range strings.Split(err.Error(), "\n") {
				if !strings.HasPrefix(line, "fuzz.yaml:") && !strings.HasPrefix(line, "  ") && !strings.HasPrefix(line, "\t") {
					t.Fatalf("error line without position: %q", line)
				}
			}
			return
		}
		if blueprints.ValidAppName(app.Name) != nil {
			t.Fatalf("accepted a bad application name %q", app.Name)
		}
		order := app.TopoOrder()
		if len(order) != len(app.Entities) {
			t.Fatalf("topological order has %d of %d entities", len(order), len(app.Entities))
		}
		seen := map[string]bool{}
		for _, e := range order {
			for _, d := range e.DependsOn {
				if !seen[d] {
					t.Fatalf("%s ordered before its dependency %s", e.ID, d)
				}
			}
			seen[e.ID] = true
			if blueprints.ValidName(e.ID) != nil || e.Count < 0 || e.Count > blueprints.MaxCount {
				t.Fatalf("accepted a bad entity %+v", e)
			}
			if name := discovery.ServiceName(app.Name, e.ID); len(name) > blueprints.MaxNameLen {
				t.Fatalf("accepted the service name %q, longer than %d", name, blueprints.MaxNameLen)
			}
		}
	})
}
