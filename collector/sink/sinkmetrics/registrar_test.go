package sinkmetrics

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

func TestRegistrarReusesAndReportsConflicts(t *testing.T) {
	reg := prometheus.NewRegistry()
	opts := prometheus.GaugeOpts{Name: "elk_sink_backlog_documents", Help: "h"}
	r := &Registrar{Reg: reg}
	first := Register(r, prometheus.NewGaugeVec(opts, []string{"sink"}))
	second := Register(r, prometheus.NewGaugeVec(opts, []string{"sink"}))
	if first != second || r.Err != nil {
		t.Fatalf("same description: want the first collector reused and no error, got same=%v err=%v", first == second, r.Err)
	}
	// Same name, other type: an error, not a silently unexported metric.
	Register(r, prometheus.NewCounter(prometheus.CounterOpts{Name: "elk_sink_backlog_documents", Help: "h"}))
	if r.Err == nil {
		t.Fatal("conflicting registration: want an error, got none")
	}
	var nilReg Registrar
	c := prometheus.NewCounter(prometheus.CounterOpts{Name: "x_total", Help: "h"})
	if Register(&nilReg, c) != c || nilReg.Err != nil {
		t.Fatal("nil registry: want the collector back and no error")
	}
}
