// Package structure checks the project's import rules.
package structure

import (
	"os/exec"
	"strings"
	"testing"
)

// TestCheckDeps: make check-deps passes on the tree, and fails, naming the
// package and the SDK, when a package that depends on a client SDK (here
// the Nomad adapter, and the server that assembles the adapters) is
// counted as a domain package.
func TestCheckDeps(t *testing.T) {
	if _, err := exec.LookPath("make"); err != nil {
		t.Skip("make not installed")
	}
	run := func(args ...string) (string, error) {
		cmd := exec.Command("make", append([]string{"-s", "check-deps"}, args...)...)
		cmd.Dir = "../.."
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	if out, err := run(); err != nil || !strings.Contains(out, "check-deps: ok") {
		t.Fatalf("make check-deps on the tree: %v\n%s", err, out)
	}
	for pkg, sdk := range map[string]string{
		"./orchestrator/target/nomad": "github.com/hashicorp/nomad/api",
		"./orchestrator/server":       "github.com/hashicorp/",
		"./collector/sink/kafka":      "franz-go",
	} {
		out, err := run("DOMAIN=" + pkg)
		if err == nil {
			t.Errorf("check-deps with %s as a domain package passed:\n%s", pkg, out)
			continue
		}
		if !strings.Contains(out, strings.TrimPrefix(pkg, ".")+" -> ") || !strings.Contains(out, sdk) {
			t.Errorf("check-deps with %s: the report does not name it and %s:\n%s", pkg, sdk, out)
		}
	}
}
