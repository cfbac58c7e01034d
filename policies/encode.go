package policies

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Marshal encodes the policy as YAML that Parse reads back unchanged.
func (p *Policy) Marshal() ([]byte, error) {
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(p.Node()); err != nil {
		return nil, fmt.Errorf("encode policy: %w", err)
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("encode policy: %w", err)
	}
	return buf.Bytes(), nil
}

// Node returns the policy as a YAML mapping node.
func (p *Policy) Node() *yaml.Node {
	root := mapping()
	if p.Target.App != "" || p.Target.Entity != "" {
		t := mapping()
		add(t, "app", str(p.Target.App))
		add(t, "entity", str(p.Target.Entity))
		add(root, "target", t)
	}
	add(root, "min", num(strconv.Itoa(p.Min)))
	add(root, "max", num(strconv.Itoa(p.Max)))
	add(root, "evaluation_interval", str(dur(p.EvaluationInterval)))
	checks := &yaml.Node{Kind: yaml.SequenceNode}
	for _, c := range p.Checks {
		cn := mapping()
		add(cn, "name", str(c.Name))
		if c.Query != "" {
			add(cn, "query", str(c.Query))
		}
		if c.Metric != "" {
			add(cn, "metric", str(c.Metric))
		}
		if c.From != "" {
			add(cn, "from", str(c.From))
		}
		s := mapping()
		sn := mapping()
		switch c.Strategy.Kind {
		case TargetValue:
			add(sn, "target", num(ftoa(c.Strategy.Target)))
			add(sn, "input", str(string(c.Strategy.Input)))
		case Bounds:
			if c.Strategy.HasLower {
				add(sn, "lower", num(ftoa(c.Strategy.Lower)))
			}
			add(sn, "upper", num(ftoa(c.Strategy.Upper)))
			add(sn, "input", str(string(c.Strategy.Input)))
		case Threshold:
			if c.Strategy.HasUpper {
				add(sn, "upper", num(ftoa(c.Strategy.Upper)))
				add(sn, "add", str(c.Strategy.Add.String()))
			}
			if c.Strategy.HasLower {
				add(sn, "lower", num(ftoa(c.Strategy.Lower)))
				add(sn, "remove", str(c.Strategy.Remove.String()))
			}
		}
		add(s, string(c.Strategy.Kind), sn)
		add(cn, "strategy", s)
		add(cn, "on_missing", str(c.OnMissing.String()))
		if c.MaxStaleness > 0 {
			add(cn, "max_staleness", str(dur(c.MaxStaleness)))
		}
		checks.Content = append(checks.Content, cn)
	}
	add(root, "checks", checks)
	ctl := mapping()
	st := mapping()
	add(st, "up", str(dur(p.Controls.StabilizationUp)))
	add(st, "down", str(dur(p.Controls.StabilizationDown)))
	add(ctl, "stabilization", st)
	ms := mapping()
	for _, d := range []struct {
		name string
		s    Step
	}{{"up", p.Controls.MaxStepUp}, {"down", p.Controls.MaxStepDown}} {
		if d.s.Count == 0 && d.s.Percent == 0 {
			continue
		}
		sn := mapping()
		if d.s.Count > 0 {
			add(sn, "count", num(strconv.Itoa(d.s.Count)))
		}
		if d.s.Percent > 0 {
			add(sn, "percent", num(ftoa(d.s.Percent)))
		}
		add(ms, d.name, sn)
	}
	if len(ms.Content) > 0 {
		add(ctl, "max_step", ms)
	}
	add(ctl, "tolerance", num(ftoa(p.Controls.Tolerance)))
	add(ctl, "warmup", str(dur(p.Controls.Warmup)))
	add(root, "controls", ctl)
	return root
}

func mapping() *yaml.Node     { return &yaml.Node{Kind: yaml.MappingNode} }
func str(s string) *yaml.Node { return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: s} }
func num(s string) *yaml.Node { return &yaml.Node{Kind: yaml.ScalarNode, Value: s} }
func add(m *yaml.Node, k string, v *yaml.Node) {
	m.Content = append(m.Content, str(k), v)
}
func ftoa(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) }

func dur(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// Set changes one field given as a dotted path, e.g. "max=10",
// "controls.stabilization.down=10m" or "checks.ingest.strategy.target-value.target=25000"
// (a check is named by its name or index), and returns the changed, validated
// policy. p is not modified.
func (p *Policy) Set(assignments ...string) (*Policy, error) {
	root := p.Node()
	for _, a := range assignments {
		k, v, ok := strings.Cut(a, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("set %q: expected KEY=VALUE", a)
		}
		if err := setPath(root, strings.Split(k, "."), v); err != nil {
			return nil, fmt.Errorf("set %s: %w", k, err)
		}
	}
	var buf bytes.Buffer
	if err := yaml.NewEncoder(&buf).Encode(root); err != nil {
		return nil, fmt.Errorf("encode policy: %w", err)
	}
	np, err := ParseBytes("set", buf.Bytes(), p.Target.App != "")
	if err != nil {
		return nil, err
	}
	return np, nil
}

func setPath(n *yaml.Node, path []string, value string) error {
	for i, seg := range path {
		last := i == len(path)-1
		switch n.Kind {
		case yaml.MappingNode:
			var next *yaml.Node
			for j := 0; j+1 < len(n.Content); j += 2 {
				if n.Content[j].Value == seg {
					next = n.Content[j+1]
				}
			}
			if next == nil {
				if last {
					next = num("")
				} else {
					next = mapping()
				}
				add(n, seg, next)
			}
			n = next
		case yaml.SequenceNode:
			var next *yaml.Node
			if idx, err := strconv.Atoi(seg); err == nil && idx >= 0 && idx < len(n.Content) {
				next = n.Content[idx]
			}
			for _, el := range n.Content {
				if el.Kind != yaml.MappingNode {
					continue
				}
				for j := 0; j+1 < len(el.Content); j += 2 {
					if el.Content[j].Value == "name" && el.Content[j+1].Value == seg {
						next = el
					}
				}
			}
			if next == nil {
				return fmt.Errorf("no list element %q", seg)
			}
			n = next
		default:
			return fmt.Errorf("%q is not a mapping or list", strings.Join(path[:i], "."))
		}
	}
	if n.Kind != yaml.ScalarNode {
		return errors.New("only single values can be set")
	}
	n.Value, n.Tag, n.Style = value, "", 0
	return nil
}
