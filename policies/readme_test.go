package policies

import (
	"os"
	"strings"
	"testing"
)

// TestREADMEExample parses and validates the policy shown in README.md.
func TestREADMEExample(t *testing.T) {
	data, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(data), "```yaml\n")
	if !ok {
		t.Fatal("README.md has no yaml example")
	}
	example, _, _ := strings.Cut(rest, "```")
	p, err := ParseBytes("README.md", []byte(example), true)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Checks) != 2 || p.Checks[0].Strategy.Input != Total {
		t.Fatalf("unexpected policy %+v", p)
	}
	q := p.Checks[1]
	if q.From != "es-exporter" || q.Strategy.Add.Percent != 50 || q.OnMissing.Mode != Hold {
		t.Errorf("es-queue check %+v", q)
	}
}
