package local_test

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/elk-project/elk/orchestrator/secrets"
	"github.com/elk-project/elk/orchestrator/target"
	"github.com/elk-project/elk/orchestrator/target/local"
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

// TestSecretsSealedAtRest: a spec's secrets reach the child's environment,
// are sealed in spec.json, and come back when another target restores the
// entity with the same keyring (the child, killed meanwhile, restarts with
// them).
func TestSecretsSealedAtRest(t *testing.T) {
	const secret = "pw-4e1b9a77"
	keys, err := secrets.New([]byte("0123456789abcdef0123456789abcdef"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	out := filepath.Join(t.TempDir(), "env")
	open := func() *local.Target {
		tg, err := local.New(local.Config{StateDir: dir, Keyring: keys, BackoffMin: 50 * time.Millisecond, GracePeriod: time.Second}, nil)
		if err != nil {
			t.Fatal(err)
		}
		return tg
	}
	childEnv := func() string {
		for deadline := time.Now().Add(10 * time.Second); ; {
			if b, err := os.ReadFile(out); err == nil {
				return string(b)
			}
			if time.Now().After(deadline) {
				t.Fatal("child did not write its environment")
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	first := open()
	spec := target.Spec{
		App: "sec", Entity: "e", Type: "generic", Count: 1,
		Command: []string{"sh", "-c", `env > "$OUT.tmp" && mv "$OUT.tmp" "$OUT" && exec sleep 3600`},
		Env:     map[string]string{"OUT": out},
		Secrets: map[string]string{"APP_PASSWORD": secret},
	}
	ctx := context.Background()
	if err := first.Apply(ctx, spec); err != nil {
		t.Fatal(err)
	}
	if env := childEnv(); !strings.Contains(env, "APP_PASSWORD="+secret) {
		t.Fatalf("child environment lacks the secret:\n%s", env)
	}
	b, err := os.ReadFile(filepath.Join(dir, "apps", "sec", "e", "spec.json"))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(b), secret) || !strings.Contains(string(b), "elk-sealed:") {
		t.Fatalf("spec.json does not seal the secret:\n%s", b)
	}
	st, err := first.Status(ctx, "sec", "e")
	if err != nil || len(st.Instances) != 1 {
		t.Fatalf("status: %+v %v", st, err)
	}
	pid, _ := strconv.Atoi(st.Instances[0].Meta["pid"])
	first.Close()
	os.Remove(out)
	syscall.Kill(-pid, syscall.SIGKILL)

	second := open()
	t.Cleanup(func() { second.Remove(ctx, "sec", "e"); second.Close() })
	if env := childEnv(); !strings.Contains(env, "APP_PASSWORD="+secret) {
		t.Fatalf("restored child environment lacks the secret:\n%s", env)
	}
}
