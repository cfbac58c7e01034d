package orchestrator

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/elk-project/elk/orchestrator/discovery/embedded"
	"github.com/elk-project/elk/orchestrator/target/local"
)

// TestLockEntriesDoNotAccumulate: requests naming apps that do not exist (a
// hostile client's loop) leave no per-app lock entry behind, and a held
// lock still excludes a second operation.
func TestLockEntriesDoNotAccumulate(t *testing.T) {
	kv, err := embedded.NewDirKV(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	tg, err := local.New(local.Config{StateDir: t.TempDir()}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(tg.Close)
	e, err := New(Config{}, Deps{Target: tg, KV: kv})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for i := range 1000 {
		if err := e.Scale(ctx, fmt.Sprintf("nope-%d", i), "x", 1, ScaleOptions{}); !errors.Is(err, ErrNotFound) {
			t.Fatalf("scale of an unknown app: %v", err)
		}
	}
	if n := e.lockedApps(); n != 0 {
		t.Fatalf("%d lock entries left after 1000 requests for unknown apps", n)
	}
	unlock, err := e.lock("a", false)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.lock("a", false); !errors.Is(err, ErrBusy) {
		t.Fatalf("second lock of a held app: %v, want ErrBusy", err)
	}
	unlock()
	if n := e.lockedApps(); n != 0 {
		t.Fatalf("%d lock entries left after unlock", n)
	}
}
