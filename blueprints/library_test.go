package blueprints_test

import (
	"github.com/elk-project/elk/blueprints"
	_ "github.com/elk-project/elk/orchestrator/catalog"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestLibrary validates every shipped blueprint.
func TestLibrary(t *testing.T) {
	files, err := filepath.Glob("library/*.yaml")
	if err != nil || len(files) < 3 {
		t.Fatalf("library blueprints: %v %v", files, err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			app, err := blueprints.Load(f)
			if err != nil {
				t.Fatalf("%v", err)
			}
			if len(app.TopoOrder()) != len(app.Entities) {
				t.Errorf("topological order has %d entities, want %d", len(app.TopoOrder()), len(app.Entities))
			}
		})
	}
}

var yamlBlock = regexp.MustCompile("(?s)```ya?ml\n(.*?)```")

// TestDocExamples validates every YAML blueprint example in the repository's
// Markdown documents (a block with an `entities:` key is a blueprint).
func TestDocExamples(t *testing.T) {
	var docs []string
	for _, pattern := range []string{"../README.md", "*.md", "../docs/*.md", "../docs/*/*.md", "library/*.md"} {
		m, _ := filepath.Glob(pattern)
		docs = append(docs, m...)
	}
	n := 0
	for _, doc := range docs {
		data, err := os.ReadFile(doc)
		if err != nil {
			t.Fatal(err)
		}
		for i, m := range yamlBlock.FindAllStringSubmatch(string(data), -1) {
			if !strings.Contains(m[1], "\nentities:") && !strings.HasPrefix(m[1], "entities:") {
				continue
			}
			n++
			name := filepath.Base(doc) + "#" + string(rune('0'+i%10))
			if _, err := blueprints.Parse(name, []byte(m[1])); err != nil {
				t.Errorf("blueprint example %d in %s: %v", i, doc, err)
			}
		}
	}
	t.Logf("%d blueprint examples in %d documents", n, len(docs))
}
