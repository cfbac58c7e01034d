package collector

import (
	"os"
	"strings"
	"testing"

	"github.com/elk-project/elk/collector/route"
)

// TestReadmeExamples parses every YAML example in README.md as a tenant
// table, so the documentation cannot drift from the format.
func TestReadmeExamples(t *testing.T) {
	b, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	blocks := strings.Split(string(b), "```yaml\n")[1:]
	if len(blocks) == 0 {
		t.Fatal("README.md has no yaml example")
	}
	for i, blk := range blocks {
		body, _, ok := strings.Cut(blk, "```")
		if !ok {
			t.Fatalf("example %d is not closed", i+1)
		}
		tb, err := route.Parse("README.md example", []byte(body))
		if err != nil {
			t.Errorf("example %d: %v", i+1, err)
			continue
		}
		if tb.Len() == 0 {
			t.Errorf("example %d has no tenants", i+1)
		}
	}
}
