package policies

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Load reads a standalone policy file. A standalone policy must name its
// target.
func Load(path string) (*Policy, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read policy: %w", err)
	}
	return ParseBytes(path, data, true)
}

// Bounds of one policy document: a policy is a page of YAML, and an edit
// (validated, diffed and journaled by the server) must stay cheap.
const (
	MaxDocumentBytes = 256 << 10
	MaxDocumentLines = 4000
	MaxChecks        = 64
)

// ParseBytes parses one policy document. requireTarget says whether the
// document must name its target (standalone files) or may leave it to the
// caller (a blueprint entity fills it in).
func ParseBytes(filename string, data []byte, requireTarget bool) (*Policy, error) {
	if len(data) > MaxDocumentBytes {
		return nil, fmt.Errorf("%s: policy is %d bytes, above the limit of %d", filename, len(data), MaxDocumentBytes)
	}
	if n := bytes.Count(data, []byte("\n")); n > MaxDocumentLines {
		return nil, fmt.Errorf("%s:%d:1: policy has more than %d lines", filename, MaxDocumentLines+1, MaxDocumentLines)
	}
	var doc yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&doc); err != nil {
		return nil, fmt.Errorf("%s: %w", filename, err)
	}
	n := &doc
	if n.Kind == yaml.DocumentNode && len(n.Content) == 1 {
		n = n.Content[0]
	}
	return parse(filename, n, requireTarget)
}

// Parse parses a policy from a YAML node, e.g. the `policies:` value of a
// blueprint entity. Its target may be absent: the caller sets
// p.Target from the entity. Errors carry filename:line:col and are all
// reported at once (errors.Join).
func Parse(filename string, node *yaml.Node) (*Policy, error) {
	if node == nil {
		return nil, fmt.Errorf("%s: empty policy", filename)
	}
	n := node
	if n.Kind == yaml.DocumentNode && len(n.Content) == 1 {
		n = n.Content[0]
	}
	return parse(filename, n, false)
}

// Validate checks a policy built or changed in code by encoding and parsing
// it again, so every rule lives in one place.
func (p *Policy) Validate() error {
	data, err := p.Marshal()
	if err != nil {
		return err
	}
	_, err = ParseBytes("policy", data, true)
	return err
}

type walker struct {
	file string
	errs []posErr
}

type posErr struct {
	line, col int
	err       error
}

func (w *walker) errf(n *yaml.Node, format string, args ...any) {
	w.errs = append(w.errs, posErr{n.Line, n.Column, fmt.Errorf("%s:%d:%d: %s", w.file, n.Line, n.Column, fmt.Sprintf(format, args...))})
}

// err returns every error, ordered by position.
func (w *walker) err() error {
	sort.SliceStable(w.errs, func(i, j int) bool {
		a, b := w.errs[i], w.errs[j]
		return a.line < b.line || a.line == b.line && a.col < b.col
	})
	errs := make([]error, len(w.errs))
	for i, e := range w.errs {
		errs[i] = e.err
	}
	return errors.Join(errs...)
}

// fields returns the key/value pairs of a mapping, reporting unknown and
// duplicate keys.
func (w *walker) fields(n *yaml.Node, what string, allowed ...string) map[string]*yaml.Node {
	out := map[string]*yaml.Node{}
	if n.Kind != yaml.MappingNode {
		w.errf(n, "%s: expected a mapping", what)
		return out
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		known := false
		for _, a := range allowed {
			if a == k.Value {
				known = true
				break
			}
		}
		switch {
		case !known:
			w.errf(k, "%s: unknown field %q (known: %s)", what, k.Value, strings.Join(allowed, ", "))
		case out[k.Value] != nil:
			w.errf(k, "%s: duplicate field %q", what, k.Value)
		default:
			out[k.Value] = v
		}
	}
	return out
}

func (w *walker) str(n *yaml.Node, what string) string {
	if n.Kind != yaml.ScalarNode {
		w.errf(n, "%s: expected a string", what)
		return ""
	}
	return n.Value
}

func (w *walker) int(n *yaml.Node, what string) int {
	if n.Kind != yaml.ScalarNode {
		w.errf(n, "%s: expected an integer", what)
		return 0
	}
	v, err := strconv.Atoi(n.Value)
	if err != nil {
		w.errf(n, "%s: %q is not an integer", what, n.Value)
	}
	return v
}

func (w *walker) float(n *yaml.Node, what string) float64 {
	if n.Kind != yaml.ScalarNode {
		w.errf(n, "%s: expected a number", what)
		return 0
	}
	v, err := strconv.ParseFloat(strings.ReplaceAll(n.Value, "_", ""), 64)
	if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
		w.errf(n, "%s: %q is not a number", what, n.Value)
		return 0
	}
	return v
}

func (w *walker) dur(n *yaml.Node, what string) time.Duration {
	if n.Kind != yaml.ScalarNode {
		w.errf(n, "%s: expected a duration like 30s or 5m", what)
		return 0
	}
	if n.Value == "0" {
		return 0
	}
	d, err := time.ParseDuration(n.Value)
	if err != nil {
		w.errf(n, "%s: %q is not a duration like 30s or 5m", what, n.Value)
		return 0
	}
	if d < 0 {
		w.errf(n, "%s: must not be negative", what)
	}
	return d
}

func (w *walker) step(n *yaml.Node, what string) Step {
	if n.Kind != yaml.ScalarNode {
		w.errf(n, "%s: expected a count like 2 or a percentage like 50%%", what)
		return Step{}
	}
	if p, ok := strings.CutSuffix(n.Value, "%"); ok {
		v, err := strconv.ParseFloat(strings.TrimSpace(p), 64)
		if err != nil || v <= 0 || math.IsInf(v, 0) || math.IsNaN(v) {
			w.errf(n, "%s: %q is not a positive percentage", what, n.Value)
			return Step{}
		}
		return Step{Percent: v}
	}
	v, err := strconv.Atoi(n.Value)
	if err != nil || v <= 0 {
		w.errf(n, "%s: %q is not a positive count or percentage", what, n.Value)
		return Step{}
	}
	return Step{Count: v}
}

func parse(filename string, n *yaml.Node, requireTarget bool) (*Policy, error) {
	w := &walker{file: filename}
	p := &Policy{
		EvaluationInterval: DefaultEvaluationInterval,
		Controls: Controls{
			Tolerance:         DefaultTolerance,
			StabilizationDown: DefaultStabilizationDown,
		},
	}
	f := w.fields(n, "policy", "target", "min", "max", "evaluation_interval", "checks", "controls")
	if t := f["target"]; t != nil {
		tf := w.fields(t, "target", "app", "entity")
		if v := tf["app"]; v != nil {
			p.Target.App = w.str(v, "target.app")
		}
		if v := tf["entity"]; v != nil {
			p.Target.Entity = w.str(v, "target.entity")
		}
		for _, name := range []string{p.Target.App, p.Target.Entity} {
			if strings.ContainsAny(name, "/ \t") {
				w.errf(t, "target: %q must not contain '/' or spaces", name)
			}
		}
	}
	if requireTarget && (p.Target.App == "" || p.Target.Entity == "") {
		at := n
		if f["target"] != nil {
			at = f["target"]
		}
		w.errf(at, "target: app and entity are required")
	}
	if v := f["min"]; v != nil {
		p.Min = w.int(v, "min")
		if p.Min < 0 {
			w.errf(v, "min: must not be negative")
		}
	}
	if v := f["max"]; v != nil {
		p.Max = w.int(v, "max")
		if p.Max < 1 {
			w.errf(v, "max: must be at least 1")
		}
		if p.Max > MaxCount {
			w.errf(v, "max: %d is above the maximum %d", p.Max, MaxCount)
		}
		if p.Max < p.Min {
			w.errf(v, "max: %d is below min %d", p.Max, p.Min)
		}
	} else {
		w.errf(n, "policy: max is required")
	}
	if v := f["evaluation_interval"]; v != nil {
		before := len(w.errs)
		p.EvaluationInterval = w.dur(v, "evaluation_interval")
		if p.EvaluationInterval < 100*time.Millisecond && len(w.errs) == before {
			w.errf(v, "evaluation_interval: must be at least 100ms")
		}
	}
	if c := f["checks"]; c != nil {
		if c.Kind != yaml.SequenceNode || len(c.Content) == 0 {
			w.errf(c, "checks: expected a non-empty list")
		} else if len(c.Content) > MaxChecks {
			w.errf(c.Content[MaxChecks], "checks: %d checks, above the limit of %d", len(c.Content), MaxChecks)
		} else {
			names := map[string]bool{}
			for i, cn := range c.Content {
				ch := w.check(cn, i, p)
				if ch.Name != "" && names[ch.Name] {
					w.errf(cn, "checks[%d]: duplicate check name %q", i, ch.Name)
				}
				names[ch.Name] = true
				p.Checks = append(p.Checks, ch)
			}
		}
	} else {
		w.errf(n, "policy: at least one check is required")
	}
	if c := f["controls"]; c != nil {
		w.controls(c, p)
	}
	if len(w.errs) > 0 {
		return nil, w.err()
	}
	return p, nil
}

func (w *walker) check(n *yaml.Node, i int, p *Policy) Check {
	what := fmt.Sprintf("checks[%d]", i)
	ch := Check{OnMissing: OnMissing{Mode: UpOnly}}
	f := w.fields(n, what, "name", "query", "metric", "from", "strategy", "on_missing", "max_staleness")
	if v := f["name"]; v != nil {
		ch.Name = w.str(v, what+".name")
	}
	if ch.Name == "" {
		w.errf(n, "%s: name is required", what)
	} else {
		what = fmt.Sprintf("check %q", ch.Name)
	}
	if v := f["query"]; v != nil {
		ch.Query = strings.TrimSpace(w.str(v, what+".query"))
	}
	if v := f["metric"]; v != nil {
		ch.Metric = strings.TrimSpace(w.str(v, what+".metric"))
		if _, err := ParseMetric(ch.Metric); err != nil {
			w.errf(v, "%s.metric: %v", what, err)
		}
	}
	if v := f["from"]; v != nil {
		ch.From = w.str(v, what+".from")
		if ch.Metric == "" {
			w.errf(v, "%s.from: only applies to a built-in metric", what)
		}
	}
	if (ch.Query == "") == (ch.Metric == "") {
		w.errf(n, "%s: set exactly one of query (PromQL) or metric (built-in)", what)
	}
	if v := f["strategy"]; v != nil {
		ch.Strategy = w.strategy(v, what+".strategy")
		if ch.Metric != "" && !hasInput(v) && ch.Strategy.Kind != Threshold {
			// A built-in metric is summed over the instances.
			ch.Strategy.Input = Total
		}
	} else {
		w.errf(n, "%s: strategy is required", what)
	}
	if v := f["on_missing"]; v != nil {
		s := strings.Fields(w.str(v, what+".on_missing"))
		switch {
		case len(s) == 1 && s[0] == string(Hold):
			ch.OnMissing = OnMissing{Mode: Hold}
		case len(s) == 1 && s[0] == string(UpOnly):
			ch.OnMissing = OnMissing{Mode: UpOnly}
		case len(s) == 2 && s[0] == string(Fallback):
			n, err := strconv.Atoi(s[1])
			if err != nil || n < 0 {
				w.errf(v, "%s.on_missing: fallback needs a count, e.g. \"fallback 3\"", what)
			}
			ch.OnMissing = OnMissing{Mode: Fallback, Count: n}
			if p.Max > 0 && (n < p.Min || n > p.Max) {
				w.errf(v, "%s.on_missing: fallback %d is outside min %d and max %d", what, n, p.Min, p.Max)
			}
		default:
			w.errf(v, "%s.on_missing: %q is not hold, up_only or fallback N", what, v.Value)
		}
	}
	if v := f["max_staleness"]; v != nil {
		ch.MaxStaleness = w.dur(v, what+".max_staleness")
	}
	return ch
}

func (w *walker) strategy(n *yaml.Node, what string) Strategy {
	f := w.fields(n, what, string(TargetValue), string(Bounds), string(Threshold))
	if len(f) != 1 {
		if n.Kind == yaml.MappingNode {
			w.errf(n, "%s: set exactly one of target-value, bounds or threshold", what)
		}
		return Strategy{}
	}
	s := Strategy{Input: PerInstance}
	input := func(sf map[string]*yaml.Node, what string) {
		if v := sf["input"]; v != nil {
			switch in := Input(w.str(v, what+".input")); in {
			case PerInstance, Total:
				s.Input = in
			default:
				w.errf(v, "%s.input: %q is not average or total", what, v.Value)
			}
		}
	}
	for k, v := range f {
		s.Kind = StrategyKind(k)
		what := what + "." + k
		switch s.Kind {
		case TargetValue:
			sf := w.fields(v, what, "target", "input")
			input(sf, what)
			if t := sf["target"]; t != nil {
				s.Target = w.float(t, what+".target")
				if s.Target <= 0 {
					w.errf(t, "%s.target: must be positive", what)
				}
			} else {
				w.errf(v, "%s: target is required", what)
			}
		case Bounds:
			sf := w.fields(v, what, "lower", "upper", "input")
			input(sf, what)
			if t := sf["lower"]; t != nil {
				s.Lower, s.HasLower = w.float(t, what+".lower"), true
				if s.Lower < 0 {
					w.errf(t, "%s.lower: must not be negative", what)
				}
			}
			if t := sf["upper"]; t != nil {
				s.Upper, s.HasUpper = w.float(t, what+".upper"), true
				if s.Upper <= 0 {
					w.errf(t, "%s.upper: must be positive", what)
				}
				if s.HasLower && s.Lower >= s.Upper {
					w.errf(t, "%s.upper: must be above lower (%g)", what, s.Lower)
				}
			} else {
				w.errf(v, "%s: upper is required", what)
			}
		case Threshold:
			sf := w.fields(v, what, "upper", "lower", "add", "remove")
			if t := sf["upper"]; t != nil {
				s.Upper, s.HasUpper = w.float(t, what+".upper"), true
			}
			if t := sf["lower"]; t != nil {
				s.Lower, s.HasLower = w.float(t, what+".lower"), true
			}
			if !s.HasUpper && !s.HasLower {
				w.errf(v, "%s: set upper, lower or both", what)
			}
			if s.HasUpper && s.HasLower && s.Lower >= s.Upper {
				w.errf(v, "%s: lower (%g) must be below upper (%g)", what, s.Lower, s.Upper)
			}
			if t := sf["add"]; t != nil {
				s.Add = w.step(t, what+".add")
			} else if s.HasUpper {
				w.errf(v, "%s: add is required with upper", what)
			}
			if t := sf["remove"]; t != nil {
				s.Remove = w.step(t, what+".remove")
			} else if s.HasLower {
				w.errf(v, "%s: remove is required with lower", what)
			}
		}
	}
	return s
}

func (w *walker) controls(n *yaml.Node, p *Policy) {
	f := w.fields(n, "controls", "stabilization", "max_step", "tolerance", "warmup")
	c := &p.Controls
	if v := f["stabilization"]; v != nil {
		sf := w.fields(v, "controls.stabilization", "up", "down")
		if d := sf["up"]; d != nil {
			c.StabilizationUp = w.dur(d, "controls.stabilization.up")
		}
		if d := sf["down"]; d != nil {
			c.StabilizationDown = w.dur(d, "controls.stabilization.down")
		}
	}
	if v := f["max_step"]; v != nil {
		sf := w.fields(v, "controls.max_step", "up", "down")
		for dir, dst := range map[string]*Step{"up": &c.MaxStepUp, "down": &c.MaxStepDown} {
			d := sf[dir]
			if d == nil {
				continue
			}
			what := "controls.max_step." + dir
			df := w.fields(d, what, "count", "percent")
			if x := df["count"]; x != nil {
				dst.Count = w.int(x, what+".count")
				if dst.Count < 1 {
					w.errf(x, "%s.count: must be at least 1", what)
				}
			}
			if x := df["percent"]; x != nil {
				dst.Percent = w.float(x, what+".percent")
				if dst.Percent <= 0 {
					w.errf(x, "%s.percent: must be positive", what)
				}
			}
		}
	}
	if v := f["tolerance"]; v != nil {
		c.Tolerance = w.float(v, "controls.tolerance")
		if c.Tolerance < 0 || c.Tolerance >= 1 {
			w.errf(v, "controls.tolerance: must be in [0, 1)")
		}
	}
	if v := f["warmup"]; v != nil {
		c.Warmup = w.dur(v, "controls.warmup")
	}
}

func ceil(f float64) float64 { return math.Ceil(f - 1e-9) }

// hasInput reports whether a strategy node sets input explicitly.
func hasInput(n *yaml.Node) bool {
	if n.Kind != yaml.MappingNode {
		return false
	}
	for i := 1; i < len(n.Content); i += 2 {
		sn := n.Content[i]
		if sn.Kind != yaml.MappingNode {
			continue
		}
		for j := 0; j < len(sn.Content); j += 2 {
			if sn.Content[j].Value == "input" {
				return true
			}
		}
	}
	return false
}
