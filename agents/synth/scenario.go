package synth

import (
	"fmt"
	"math"
	"time"
)

// Scenario names accepted by ParseScenario.
const (
	ScenarioSteady  = "steady"
	ScenarioSpike   = "spike"
	ScenarioRamp    = "ramp"
	ScenarioDiurnal = "diurnal"
)

// Scenarios lists every scenario name, in the order help text shows them.
var Scenarios = []string{ScenarioSteady, ScenarioSpike, ScenarioRamp, ScenarioDiurnal}

// ShapeSpan bounds the default shape timings: they follow the run's
// duration up to this span, so that a long-running agent still shows its
// scenario within minutes (and repeats its spike every span).
const ShapeSpan = 30 * time.Minute

// Shape tunes the non-steady scenarios. Zero values take the defaults
// documented on each field, where "the span" is the run's duration capped
// at ShapeSpan.
type Shape struct {
	// SpikeAt is when the spike starts (default: a third of the span).
	SpikeAt time.Duration
	// SpikeFor is how long the spike lasts (default: a third of the span).
	SpikeFor time.Duration
	// SpikeFactor multiplies the base rate during the spike (default 4).
	SpikeFactor float64
	// SpikeEvery repeats the spike with this period, SpikeAt counting
	// from the start of each period (default: the span when the run is
	// longer than the span, else no repetition).
	SpikeEvery time.Duration
	// RampFrom is the starting rate as a fraction of the rate (default 0.1);
	// the rate grows linearly to the full rate over RampFor.
	RampFrom float64
	// RampFor is how long the ramp takes (default: the span); the rate
	// holds at the full rate afterwards.
	RampFor time.Duration
	// DiurnalPeriod is the length of one simulated day (default: the
	// span). The rate starts at its trough and peaks mid-period.
	DiurnalPeriod time.Duration
	// DiurnalAmplitude is the relative swing around the mean rate, in
	// [0, 1] (default 0.8: the rate varies between 0.2× and 1.8× the rate).
	DiurnalAmplitude float64
}

// profile is a flow-sample rate over time, given by its integral: the
// number of flow samples due from the start up to t. Working with the
// integral keeps the schedule exact: it never drifts, whatever the tick.
type profile interface {
	// due returns the (fractional) number of samples due by offset t.
	due(t time.Duration) float64
	// rate returns the instantaneous rate at t, in samples per second.
	rate(t time.Duration) float64
}

// newProfile builds the profile of a scenario after filling in the shape's
// defaults for the given duration.
func newProfile(scenario string, rate float64, duration time.Duration, sh Shape) (profile, error) {
	span := min(duration, ShapeSpan)
	switch scenario {
	case ScenarioSteady, "":
		return steady{r: rate}, nil
	case ScenarioSpike:
		at, length, factor, every := sh.SpikeAt, sh.SpikeFor, sh.SpikeFactor, sh.SpikeEvery
		if at == 0 {
			at = span / 3
		}
		if length == 0 {
			length = span / 3
		}
		if factor == 0 {
			factor = 4
		}
		if every == 0 && duration > span {
			every = span
		}
		if at < 0 || length < 0 || factor < 0 || every < 0 {
			return nil, fmt.Errorf("spike: at %v, for %v, every %v and factor %g must not be negative", at, length, every, factor)
		}
		if every > 0 && at+length > every {
			return nil, fmt.Errorf("spike: at %v plus for %v must fit within every %v", at, length, every)
		}
		return spike{r: rate, at: at.Seconds(), length: length.Seconds(), every: every.Seconds(), factor: factor}, nil
	case ScenarioRamp:
		from, length := sh.RampFrom, sh.RampFor
		if from == 0 {
			from = 0.1
		}
		if length == 0 {
			length = span
		}
		if from < 0 || length < 0 {
			return nil, fmt.Errorf("ramp: from %g and for %v must not be negative", from, length)
		}
		return ramp{r: rate, from: from, length: length.Seconds()}, nil
	case ScenarioDiurnal:
		period, amp := sh.DiurnalPeriod, sh.DiurnalAmplitude
		if period == 0 {
			period = span
		}
		if amp == 0 {
			amp = 0.8
		}
		if period <= 0 || amp < 0 || amp > 1 {
			return nil, fmt.Errorf("diurnal: period %v must be positive and amplitude %g within [0, 1]", period, amp)
		}
		return diurnal{r: rate, period: period.Seconds(), amp: amp}, nil
	default:
		return nil, fmt.Errorf("unknown scenario %q (want one of %v)", scenario, Scenarios)
	}
}

type steady struct{ r float64 }

func (s steady) due(t time.Duration) float64 { return s.r * t.Seconds() }
func (s steady) rate(time.Duration) float64  { return s.r }

// spike runs at r, then at r×factor within [at, at+length), then at r
// again; with every > 0 the pattern repeats with that period.
type spike struct{ r, at, length, every, factor float64 }

// split returns the number of whole periods before x and the offset of x
// within the current one.
func (s spike) split(x float64) (float64, float64) {
	if s.every <= 0 {
		return 0, x
	}
	n := math.Floor(x / s.every)
	return n, x - n*s.every
}

func (s spike) due(t time.Duration) float64 {
	x := t.Seconds()
	periods, in := s.split(x)
	spiking := periods*s.length + math.Min(math.Max(in-s.at, 0), s.length)
	return s.r*x + s.r*(s.factor-1)*spiking
}

func (s spike) rate(t time.Duration) float64 {
	if _, in := s.split(t.Seconds()); in >= s.at && in < s.at+s.length {
		return s.r * s.factor
	}
	return s.r
}

// ramp grows linearly from r×from to r over length seconds, then holds.
type ramp struct{ r, from, length float64 }

func (s ramp) due(t time.Duration) float64 {
	x := t.Seconds()
	if s.length <= 0 {
		return s.r * x
	}
	in := math.Min(x, s.length)
	slope := s.r * (1 - s.from) / s.length
	n := s.r*s.from*in + slope*in*in/2
	if x > s.length {
		n += s.r * (x - s.length)
	}
	return n
}

func (s ramp) rate(t time.Duration) float64 {
	x := t.Seconds()
	if s.length <= 0 || x >= s.length {
		return s.r
	}
	return s.r * (s.from + (1-s.from)*x/s.length)
}

// diurnal follows r×(1 − amp×cos(2πt/period)): a trough at the start, a
// peak half a period later, a mean of r.
type diurnal struct{ r, period, amp float64 }

func (s diurnal) due(t time.Duration) float64 {
	x := t.Seconds()
	w := 2 * math.Pi / s.period
	return s.r * (x - s.amp*math.Sin(w*x)/w)
}

func (s diurnal) rate(t time.Duration) float64 {
	return s.r * (1 - s.amp*math.Cos(2*math.Pi*t.Seconds()/s.period))
}
