package local_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/elk-project/elk/orchestrator/target"
)

// TestChildEnvironmentIsAllowListed: the server's secrets never reach a
// child; the child gets the allow-listed variables and its spec's Env.
func TestChildEnvironmentIsAllowListed(t *testing.T) {
	t.Setenv("NOMAD_TOKEN", "nomad-s3cret")
	t.Setenv("CONSUL_HTTP_TOKEN", "consul-s3cret")
	t.Setenv("ELASTICSEARCH_PASSWORD", "es-s3cret")
	t.Setenv("ELK_TOKEN", "elk-s3cret")
	t.Setenv("TZ", "UTC")
	out := filepath.Join(t.TempDir(), "env")
	tg := newTarget(t, t.TempDir())
	t.Cleanup(tg.Close)
	spec := target.Spec{
		App: "envtest", Entity: "generic", Type: "generic", Count: 1,
		Command: []string{"sh", "-c", `env > "$OUT.tmp" && mv "$OUT.tmp" "$OUT" && exec sleep 3600`},
		Env:     map[string]string{"OUT": out, "ASKED": "yes"},
	}
	if err := tg.Apply(context.Background(), spec); err != nil {
		t.Fatal(err)
	}
	var env string
	for deadline := time.Now().Add(10 * time.Second); ; {
		if b, err := os.ReadFile(out); err == nil {
			env = string(b)
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("child did not write its environment")
		}
		time.Sleep(50 * time.Millisecond)
	}
	for _, secret := range []string{"nomad-s3cret", "consul-s3cret", "es-s3cret", "elk-s3cret"} {
		if strings.Contains(env, secret) {
			t.Errorf("a generic child's environment holds the server's secret %q", secret)
		}
	}
	for _, want := range []string{"PATH=", "TZ=UTC", "ASKED=yes", "ELK_APP=envtest", "ELK_ENTITY=generic"} {
		if !strings.Contains(env, want) {
			t.Errorf("child environment lacks %s:\n%s", want, env)
		}
	}
	if err := tg.Remove(context.Background(), "envtest", "generic"); err != nil {
		t.Fatal(err)
	}
}
