package server_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/elk-project/elk/orchestrator/server"
	"github.com/elk-project/elk/orchestrator/statedir"
)

// TestSecondServerOnOneStateDirectory: a second server on a state directory
// in use fails at once, naming the directory; once the first stops, the
// directory is free again.
func TestSecondServerOnOneStateDirectory(t *testing.T) {
	dir := t.TempDir()
	first, err := server.NewLocal(server.LocalConfig{Listen: "127.0.0.1:0", StateDir: dir, WaitTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- first.Run(ctx) }()

	_, err = server.NewLocal(server.LocalConfig{Listen: "127.0.0.1:0", StateDir: dir, WaitTimeout: 5 * time.Second})
	if !errors.Is(err, statedir.ErrInUse) || !strings.Contains(err.Error(), dir) {
		t.Fatalf("second server: %v; want ErrInUse naming %s", err, dir)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("first server: %v", err)
	}
	again, err := server.NewLocal(server.LocalConfig{Listen: "127.0.0.1:0", StateDir: dir, WaitTimeout: 5 * time.Second})
	if err != nil {
		t.Fatalf("server after the first stopped: %v", err)
	}
	ctx2, cancel2 := context.WithCancel(context.Background())
	cancel2()
	_ = again.Run(ctx2)
}
