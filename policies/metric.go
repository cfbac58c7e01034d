package policies

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"
)

// Metric is a parsed built-in metric expression: a gauge or counter name,
// optional equality label matchers, and optionally rate() over a window. Its
// value is the sum over every matching series of every scraped instance.
type Metric struct {
	Name   string
	Labels map[string]string
	Rate   bool
	Window time.Duration // rate window
}

var (
	nameRe  = regexp.MustCompile(`^[a-zA-Z_:][a-zA-Z0-9_:]*$`)
	labelRe = regexp.MustCompile(`^\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*=\s*"([^"]*)"\s*$`)
)

// ParseMetric parses NAME, NAME{label="v",...} or rate(NAME{...}[1m]).
func ParseMetric(s string) (Metric, error) {
	s = strings.TrimSpace(s)
	m := Metric{}
	if inner, ok := strings.CutPrefix(s, "rate("); ok {
		inner, ok = strings.CutSuffix(inner, ")")
		if !ok {
			return m, errors.New("rate( without closing )")
		}
		open := strings.LastIndex(inner, "[")
		if open < 0 || !strings.HasSuffix(inner, "]") {
			return m, errors.New("rate() needs a window, e.g. rate(elk_collector_agent_samples_total[1m])")
		}
		d, err := time.ParseDuration(inner[open+1 : len(inner)-1])
		if err != nil || d <= 0 {
			return m, fmt.Errorf("bad rate window %q", inner[open+1:len(inner)-1])
		}
		m.Rate, m.Window = true, d
		s = inner[:open]
	}
	if i := strings.IndexByte(s, '{'); i >= 0 {
		if !strings.HasSuffix(s, "}") {
			return m, errors.New("label matchers without closing }")
		}
		m.Labels = map[string]string{}
		for _, part := range strings.Split(s[i+1:len(s)-1], ",") {
			if strings.TrimSpace(part) == "" {
				continue
			}
			g := labelRe.FindStringSubmatch(part)
			if g == nil {
				return m, fmt.Errorf("label matcher %q is not name=\"value\"", strings.TrimSpace(part))
			}
			m.Labels[g[1]] = g[2]
		}
		s = s[:i]
	}
	if !nameRe.MatchString(s) {
		return m, fmt.Errorf("%q is not a metric name (built-in metrics are NAME, NAME{l=\"v\"} or rate(NAME[1m]); use query: for PromQL)", s)
	}
	m.Name = s
	return m, nil
}
