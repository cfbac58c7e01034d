package main

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/elk-project/elk/orchestrator"
	"github.com/elk-project/elk/orchestrator/target"
)

func TestPrintStatus(t *testing.T) {
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	st := &orchestrator.AppStatus{
		Name: "demo", Deployed: now.Add(-90 * time.Second),
		Entities: []orchestrator.EntityStatus{
			{ID: "collector", Type: "sflow-collector", Desired: 2, Running: 2, Healthy: 1, CountSource: "policy",
				Rates: map[string]float64{"samples_per_second": 2000},
				Instances: []target.Instance{
					{ID: "demo-collector-0", State: "running", Healthy: true, Addr: "127.0.0.1", Ports: map[string]int{"sflow": 6343, "metrics": 4000}},
					{ID: "demo-collector-1", State: "running", Addr: "127.0.0.1", Restarts: 2, Message: "exited: exit status 1"},
				}},
			{ID: "agent", Type: "sflow-agent", Desired: 1, Drift: "target runs count 3, orchestrator wants 1 (changed outside elk)"},
		},
	}
	var b bytes.Buffer
	printStatus(&b, st, now)
	got := b.String()
	for _, want := range []string{
		"demo  (deployed 1m30s ago)",
		"├─ collector    sflow-collector  desired 2  running 2  healthy 1  (count set by policy)  samples/s 2000.0",
		"│  ├─ demo-collector-0       running  healthy   127.0.0.1 metrics=4000 sflow=6343",
		"restarts 2  (exited: exit status 1)",
		"└─ agent",
		"! drift: target runs count 3",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("status output lacks %q:\n%s", want, got)
		}
	}
}
