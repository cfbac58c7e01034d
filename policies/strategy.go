package policies

import (
	"math"
	"strconv"
)

// Vote applies the strategy to a metric value with current instances and
// returns the recommended count, its direction and a short explanation.
// tolerance applies to target-value: a usage ratio within 1±tolerance of
// the target keeps the current count.
func (s Strategy) Vote(name string, value float64, current int, tolerance float64) Vote {
	v := Vote{Check: name, Count: current, Direction: None}
	if math.IsNaN(value) || math.IsInf(value, 0) {
		v.Why = "value is not a number, ignored → " + strconv.Itoa(current)
		return v
	}
	switch s.Kind {
	case TargetValue:
		total := value
		if s.Input == PerInstance {
			total = value * float64(current)
			if current == 0 {
				total = value // scaling from zero: the value is what one instance would get
			}
		}
		capacity := s.Target * float64(max(current, 1))
		ratio := total / capacity
		want := toCount(ceil(total / s.Target))
		v.Why = fmtf(value) + " vs target " + fmtf(s.Target) + perInstance(s.Input)
		switch {
		case current > 0 && math.Abs(ratio-1) <= tolerance:
			v.Why += " (within tolerance)"
		case current == 0 && total <= 0:
		default:
			v.Count = want
		}
	case Bounds:
		activity, per := value, value
		if s.Input == PerInstance {
			activity = value * float64(current)
		} else if current > 0 {
			per = value / float64(current)
		} else if value > 0 {
			per = math.Inf(1)
		}
		hot := ceil(activity / s.Upper)
		v.Why = fmtf(per) + " per instance, bounds [" + fmtf(s.Lower) + ", " + fmtf(s.Upper) + "]"
		switch {
		case per > s.Upper:
			v.Count = toCount(hot)
			v.Why += " (hot)"
		case s.HasLower && per <= s.Lower:
			// Cold: shrink to where the metric would reach the lower
			// bound, but never to a size that would be hot at once.
			n := hot
			if s.Lower > 0 {
				n = math.Max(n, math.Floor(activity/s.Lower))
			}
			v.Count = min(current, toCount(n))
			v.Why += " (cold)"
		}
	case Threshold:
		v.Why = fmtf(value)
		switch {
		case s.HasUpper && value > s.Upper:
			v.Count = max(current, min(current+min(s.Add.Of(current), MaxCount), MaxCount))
			v.Why += " above " + fmtf(s.Upper) + ", add " + s.Add.String()
		case s.HasLower && value < s.Lower:
			v.Count = max(0, current-s.Remove.Of(current))
			v.Why += " below " + fmtf(s.Lower) + ", remove " + s.Remove.String()
		default:
			v.Why += " within bounds"
		}
	}
	v.Direction = direction(v.Count, current)
	v.Why += " → " + strconv.Itoa(v.Count)
	return v
}

func direction(n, current int) Direction {
	switch {
	case n > current:
		return Up
	case n < current:
		return Down
	}
	return None
}

// DirectionOf says whether n is up, down or the same as current.
func DirectionOf(n, current int) Direction { return direction(n, current) }

// Combine merges the votes of several checks: any scale-up wins and the
// largest one is taken; otherwise a vote to keep the count beats scale-down;
// when every check votes down the smallest reduction is taken.
func Combine(votes []Vote, current int) int {
	up, down, none := -1, -1, false
	for _, v := range votes {
		switch v.Direction {
		case Up:
			up = max(up, v.Count)
		case Down:
			down = max(down, v.Count)
		default:
			none = true
		}
	}
	switch {
	case up >= 0:
		return up
	case none || down < 0:
		return current
	}
	return down
}

func perInstance(in Input) string {
	if in == Total {
		return " per instance (total)"
	}
	return " per instance"
}

func fmtf(f float64) string {
	if math.IsInf(f, 0) {
		return "∞"
	}
	if f == math.Trunc(f) && math.Abs(f) < 1e15 {
		return strconv.FormatFloat(f, 'f', 0, 64)
	}
	return strconv.FormatFloat(f, 'f', 2, 64)
}

// MaxCount is the largest count a strategy recommends (the blueprints'
// limit); policy max is bounded by it too.
const MaxCount = 1000

// toCount converts a wanted count to an int in [0, MaxCount]: NaN is 0 and
// huge values are clamped before conversion, so they never overflow.
func toCount(f float64) int {
	switch {
	case !(f > 0):
		return 0
	case f >= MaxCount:
		return MaxCount
	}
	return int(f)
}
