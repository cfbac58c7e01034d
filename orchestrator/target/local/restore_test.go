package local_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestRestoreSkipsBadSpecs: a state directory holding one good entity, one
// spec that is not JSON and one asking for a billion instances restores the
// good one and skips the others (logged), instead of refusing to start.
func TestRestoreSkipsBadSpecs(t *testing.T) {
	dir := t.TempDir()
	first := newTarget(t, dir)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := first.Apply(ctx, helperSpec("good", "e", 1)); err != nil {
		t.Fatal(err)
	}
	if err := first.Wait(ctx, "good", "e"); err != nil {
		t.Fatal(err)
	}
	first.Close()

	write := func(app string, data []byte) {
		p := filepath.Join(dir, "apps", app, "x", "spec.json")
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("broken", []byte("{not json"))
	huge, _ := json.Marshal(helperSpec("huge", "x", 1_000_000_000))
	write("huge", huge)

	second := newTarget(t, dir)
	defer second.Close()
	if err := second.Wait(ctx, "good", "e"); err != nil {
		t.Fatalf("good entity after restore: %v", err)
	}
	if st, err := second.Status(ctx, "good", "e"); err != nil || len(st.Instances) != 1 {
		t.Fatalf("good entity: %+v, %v; want its one instance back", st, err)
	}
	for _, app := range []string{"broken", "huge"} {
		if st, err := second.Status(ctx, app, "x"); err == nil && len(st.Instances) > 0 {
			t.Errorf("%s restored with %d instances", app, len(st.Instances))
		}
	}
}
