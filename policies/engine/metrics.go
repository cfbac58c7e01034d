package engine

import (
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/elk-project/elk/policies"
)

type metrics struct {
	evaluations *prometheus.CounterVec
	duration    prometheus.Histogram
	value       *prometheus.GaugeVec
	recommended *prometheus.GaugeVec
	desired     *prometheus.GaugeVec
	actual      *prometheus.GaugeVec
	clipped     *prometheus.GaugeVec
	actions     *prometheus.CounterVec
	srcErrors   *prometheus.CounterVec
	leader      prometheus.Gauge
	policies    prometheus.Gauge
}

func newMetrics(reg *prometheus.Registry) (*metrics, error) {
	pl := []string{"app", "entity"}
	m := &metrics{
		evaluations: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "elk_policy_evaluations_total",
			Help: "Policy evaluations."}, pl),
		duration: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "elk_policy_evaluation_duration_seconds",
			Help: "Time to evaluate one policy, including metric reads and the scale call.", Buckets: prometheus.ExponentialBuckets(0.0001, 4, 10)}),
		value: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "elk_policy_metric_value",
			Help: "Last metric value read by a policy check."}, append(pl, "check")),
		recommended: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "elk_policy_recommended_instances",
			Help: "Count recommended by the combined checks before controls."}, pl),
		desired: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "elk_policy_desired_instances",
			Help: "Count the policy wants after controls."}, pl),
		actual: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "elk_policy_actual_instances",
			Help: "Count the target ran at the last evaluation."}, pl),
		clipped: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "elk_policy_clipped_by",
			Help: "1 for each reason that clipped or blocked the last decision."}, append(pl, "reason")),
		actions: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "elk_policy_actions_total",
			Help: "Scale requests made, per direction."}, append(pl, "direction")),
		srcErrors: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "elk_policy_source_errors_total",
			Help: "Metric reads that failed because the source was down, per source."}, append(pl, "source")),
		leader: prometheus.NewGauge(prometheus.GaugeOpts{Name: "elk_policy_leader",
			Help: "1 when this policy engine is the leader and may act."}),
		policies: prometheus.NewGauge(prometheus.GaugeOpts{Name: "elk_policy_policies",
			Help: "Policies loaded."}),
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{m.evaluations, m.duration, m.value, m.recommended, m.desired,
			m.actual, m.clipped, m.actions, m.srcErrors, m.leader, m.policies} {
			if err := reg.Register(c); err != nil {
				return nil, err
			}
		}
	}
	return m, nil
}

// policyMetrics caches one policy's children so an evaluation does not hash
// label values.
type policyMetrics struct {
	mu          sync.Mutex // guards values and srcErrors
	parent      *metrics
	app, entity string
	evaluations prometheus.Counter
	recommended prometheus.Gauge
	desired     prometheus.Gauge
	actual      prometheus.Gauge
	clipped     map[policies.Clip]prometheus.Gauge
	up, down    prometheus.Counter
	values      map[string]prometheus.Gauge
	srcErrors   map[string]prometheus.Counter
}

func (m *metrics) forPolicy(app, entity string) *policyMetrics {
	pm := &policyMetrics{
		parent: m, app: app, entity: entity,
		evaluations: m.evaluations.WithLabelValues(app, entity),
		recommended: m.recommended.WithLabelValues(app, entity),
		desired:     m.desired.WithLabelValues(app, entity),
		actual:      m.actual.WithLabelValues(app, entity),
		up:          m.actions.WithLabelValues(app, entity, string(policies.Up)),
		down:        m.actions.WithLabelValues(app, entity, string(policies.Down)),
		clipped:     map[policies.Clip]prometheus.Gauge{},
		values:      map[string]prometheus.Gauge{},
		srcErrors:   map[string]prometheus.Counter{},
	}
	for _, c := range policies.Clips {
		pm.clipped[c] = m.clipped.WithLabelValues(app, entity, string(c))
	}
	return pm
}

func (pm *policyMetrics) value(check string, v float64) {
	pm.mu.Lock()
	defer pm.mu.Unlock()
	g := pm.values[check]
	if g == nil {
		g = pm.parent.value.WithLabelValues(pm.app, pm.entity, check)
		pm.values[check] = g
	}
	g.Set(v)
}

func (pm *policyMetrics) sourceError(src string) {
	pm.mu.Lock()
	defer pm.mu.Unlock()
	c := pm.srcErrors[src]
	if c == nil {
		c = pm.parent.srcErrors.WithLabelValues(pm.app, pm.entity, src)
		pm.srcErrors[src] = c
	}
	c.Inc()
}

func (m *metrics) observe(pm *policyMetrics, d *policies.Decision, start time.Time) {
	pm.evaluations.Inc()
	m.duration.Observe(time.Since(start).Seconds())
	pm.actual.Set(float64(d.Current))
	pm.recommended.Set(float64(d.Recommended))
	pm.desired.Set(float64(d.Desired))
	for c, g := range pm.clipped {
		if d.Clipped(c) {
			g.Set(1)
		} else {
			g.Set(0)
		}
	}
	switch d.Action {
	case policies.Up:
		pm.up.Inc()
	case policies.Down:
		pm.down.Inc()
	}
}

func (m *metrics) drop(app, entity string) {
	l := prometheus.Labels{"app": app, "entity": entity}
	m.evaluations.DeletePartialMatch(l)
	m.value.DeletePartialMatch(l)
	m.recommended.DeletePartialMatch(l)
	m.desired.DeletePartialMatch(l)
	m.actual.DeletePartialMatch(l)
	m.clipped.DeletePartialMatch(l)
	m.actions.DeletePartialMatch(l)
	m.srcErrors.DeletePartialMatch(l)
}
