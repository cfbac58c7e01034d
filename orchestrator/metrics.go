package orchestrator

import (
	"errors"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

type metrics struct {
	desired, running, healthy, drift *prometheus.GaugeVec
	apps, leader                     prometheus.Gauge
	ops                              *prometheus.CounterVec
	duration                         *prometheus.HistogramVec
}

func newMetrics(reg *prometheus.Registry) (*metrics, error) {
	entity := []string{"app", "entity"}
	m := &metrics{
		desired: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "elk_orchestrator_entity_desired_instances", Help: "Instances the orchestrator wants per entity."}, entity),
		running: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "elk_orchestrator_entity_running_instances", Help: "Instances the target runs per entity."}, entity),
		healthy: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "elk_orchestrator_entity_healthy_instances", Help: "Healthy instances per entity."}, entity),
		drift: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "elk_orchestrator_entity_drift", Help: "1 when the target's count or presence differs from the orchestrator's state."}, entity),
		apps: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "elk_orchestrator_apps", Help: "Deployed applications."}),
		leader: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "elk_orchestrator_leader", Help: "1 when this server is the active orchestrator."}),
		ops: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "elk_orchestrator_operations_total", Help: "Deploy, scale and undeploy operations by outcome."},
			[]string{"operation", "outcome"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "elk_orchestrator_operation_duration_seconds", Help: "Duration of deploy, scale and undeploy operations.",
			Buckets: []float64{0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300}}, []string{"operation"}),
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{m.desired, m.running, m.healthy, m.drift, m.apps, m.leader, m.ops, m.duration} {
			if err := reg.Register(c); err != nil {
				return nil, err
			}
		}
	}
	return m, nil
}

func (m *metrics) observe(op string, err error, d time.Duration) {
	outcome := "success"
	switch {
	case errors.Is(err, ErrBusy):
		outcome = "busy"
	case err != nil:
		outcome = "failure"
	}
	m.ops.WithLabelValues(op, outcome).Inc()
	m.duration.WithLabelValues(op).Observe(d.Seconds())
}
