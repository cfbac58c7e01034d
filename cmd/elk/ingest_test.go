package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/elk-project/elk/collector/sink"
)

// Two collectors on one machine with the same output (the local target runs
// several instances of one spec) must not share a spool directory.
func TestCollectorESOutputsDoNotShareSpool(t *testing.T) {
	state := t.TempDir()
	t.Setenv("XDG_STATE_HOME", state)
	t.Setenv("ELK_INSTANCE", "2")
	spec := "elasticsearch:http://127.0.0.1:1?flush_interval=50ms" // nothing listens: the sinks spool
	log := slog.New(slog.DiscardHandler)
	var dirs []string
	for i := range 3 {
		s, err := openOutput(spec, log, prometheus.NewRegistry(), io.Discard)
		if err != nil {
			t.Fatalf("output %d: %v", i, err)
		}
		t.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
			defer cancel()
			_ = s.Close(ctx)
		})
		docs := []sink.Doc{{ID: fmt.Sprintf("doc-%d", i), Dataset: "sflow.flow", Time: time.Now(), Body: []byte(`{}`)}}
		wctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err = s.Write(wctx, docs)
		cancel()
		if err != nil {
			t.Fatalf("output %d: write while the cluster is down: %v (want it spooled, not blocked)", i, err)
		}
	}
	matches, _ := filepath.Glob(filepath.Join(state, "elk", "spool", "sflow-*", "*.spool"))
	for _, m := range matches {
		dirs = append(dirs, filepath.Base(filepath.Dir(m)))
	}
	slices.Sort(dirs)
	if len(dirs) != 3 || dirs[0] == dirs[1] || dirs[1] == dirs[2] {
		t.Fatalf("spool segments in %v, want one in each of 3 distinct directories", dirs)
	}
	if !strings.HasSuffix(dirs[1], ".2") || !strings.HasSuffix(dirs[2], fmt.Sprintf(".pid-%d", os.Getpid())) {
		t.Errorf("spool dirs %v, want DIR, DIR.2 (ELK_INSTANCE) and DIR.pid-%d", dirs, os.Getpid())
	}
}
