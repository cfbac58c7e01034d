// Package policies defines elk's autoscaling policy: which entity it scales,
// the checks that read metrics and vote for a size, and the controls that keep
// the result from flapping. It parses policies from YAML (standalone files or
// the `policies:` node of a blueprint entity) with file:line:col errors, all
// reported at once, and describes the outcome of an evaluation as a Decision.
//
// The engine that runs policies lives in policies/engine; metric sources in
// policies/source/...; simulation over recorded metrics in policies/simulate.
package policies

import (
	"fmt"
	"time"
)

// Policy scales one entity of one application.
type Policy struct {
	Target             Target
	Min                int
	Max                int
	EvaluationInterval time.Duration
	Checks             []Check
	Controls           Controls
}

// Target names the scaled entity.
type Target struct {
	App    string
	Entity string
}

// Key is "app/entity", the policy's identity.
func (t Target) Key() string { return t.App + "/" + t.Entity }

func (t Target) String() string { return t.Key() }

// Check reads one metric and votes for a size through its strategy.
type Check struct {
	Name string
	// Query is a PromQL expression that returns one series (use sum(),
	// avg() and friends); Metric is a built-in metric read by elk's own
	// scraper from the instances of From (default: the target entity),
	// written as NAME, NAME{label="v"} or rate(NAME[1m]). Exactly one is
	// set.
	Query        string
	Metric       string
	From         string
	Strategy     Strategy
	OnMissing    OnMissing
	MaxStaleness time.Duration // 0: the engine default (3 × evaluation interval)
}

// StrategyKind names a strategy.
type StrategyKind string

// Strategies.
const (
	TargetValue StrategyKind = "target-value"
	Bounds      StrategyKind = "bounds"
	Threshold   StrategyKind = "threshold"
)

// Input says whether a metric value is per instance (an average) or the total
// over all instances. The default is average for PromQL queries (as in
// nomad-autoscaler: desired = ceil(current × value / target)) and total for
// built-in metrics, which are always summed over the instances.
type Input string

// Inputs.
const (
	PerInstance Input = "average"
	Total       Input = "total"
)

// Strategy turns a metric value and the current count into a recommended
// count. Only the fields of Kind are meaningful.
type Strategy struct {
	Kind StrategyKind
	// Input applies to target-value and bounds.
	Input Input
	// TargetValue: the per-instance target.
	Target float64
	// Bounds: per-instance lower and upper bounds; Threshold: the bounds
	// of the raw value. HasLower is false when no lower bound is set
	// (threshold then never removes).
	Lower, Upper       float64
	HasLower, HasUpper bool
	// Threshold: instances added above Upper and removed below Lower.
	Add, Remove Step
}

// Step is a change in count: N instances or a percentage of the current
// count (rounded up, at least one).
type Step struct {
	Count   int
	Percent float64
}

// Of returns the size of the step from current instances.
func (s Step) Of(current int) int {
	if s.Percent > 0 {
		n := toCount(ceil(float64(current) * s.Percent / 100))
		if n < 1 {
			n = 1
		}
		return n
	}
	return min(s.Count, MaxCount)
}

func (s Step) String() string {
	if s.Percent > 0 {
		return fmt.Sprintf("%g%%", s.Percent)
	}
	return fmt.Sprint(s.Count)
}

// MissingMode is what a check does when its metric is missing or stale.
type MissingMode string

// Missing-data modes.
const (
	// Hold: the whole policy holds its current count (other checks may
	// not scale it either way).
	Hold MissingMode = "hold"
	// UpOnly: the check votes to keep the current count, so other checks
	// may still scale up but nothing scales down. The default.
	UpOnly MissingMode = "up_only"
	// Fallback: the check votes for a fixed count.
	Fallback MissingMode = "fallback"
)

// OnMissing is a check's missing-data behaviour.
type OnMissing struct {
	Mode  MissingMode
	Count int // Fallback only
}

func (m OnMissing) String() string {
	if m.Mode == Fallback {
		return fmt.Sprintf("fallback %d", m.Count)
	}
	return string(m.Mode)
}

// Controls shape the combined recommendation into an action.
type Controls struct {
	// Stabilization windows: grow to the smallest recommendation seen in
	// the up window, shrink to the largest seen in the down window.
	StabilizationUp   time.Duration
	StabilizationDown time.Duration
	// MaxStepUp/Down limit one action; zero values mean unlimited. When
	// both count and percent are set the larger change is allowed.
	MaxStepUp   Step
	MaxStepDown Step
	// Tolerance: a target-value check whose usage ratio is within
	// 1±Tolerance of its target votes to keep the count.
	Tolerance float64
	// Warmup after a scale action or a deployment finishes, during which
	// metrics of new instances are not trusted and no action is taken.
	Warmup time.Duration
}

// Defaults applied when a field is absent.
const (
	DefaultEvaluationInterval = 10 * time.Second
	DefaultTolerance          = 0.1
	DefaultStabilizationDown  = 5 * time.Minute
)
