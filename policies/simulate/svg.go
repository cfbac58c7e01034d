package simulate

import (
	"bufio"
	"fmt"
	"html"
	"io"
	"math"
	"strings"
	"time"
)

// SVG plots a simulation: the metric (left axis), the capacity of the
// running instances, and the recommended and actual counts (right axis)
// over time, with the summary underneath. It is plain hand-written SVG.
func SVG(w io.Writer, title string, r *Result) error {
	const (
		W, H                  = 960, 460
		left, right, top, bot = 80, 70, 50, 110
	)
	pw, ph := float64(W-left-right), float64(H-top-bot)
	pts := r.Points
	if len(pts) == 0 {
		return fmt.Errorf("plot: no points")
	}
	t0, t1 := pts[0].Time, pts[len(pts)-1].Time
	span := t1.Sub(t0).Seconds()
	if span <= 0 {
		span = 1
	}
	maxV, maxN := 0.0, 1
	for _, p := range pts {
		maxV = math.Max(maxV, p.Value)
		maxV = math.Max(maxV, r.Summary.Bound*float64(p.Actual))
		maxN = max(maxN, p.Recommended, p.Actual, p.Desired)
	}
	maxV = niceCeil(maxV * 1.05)
	if maxV == 0 {
		maxV = 1
	}
	maxN = maxN + 1
	x := func(t time.Time) float64 { return float64(left) + t.Sub(t0).Seconds()/span*pw }
	yv := func(v float64) float64 { return float64(top) + ph - v/maxV*ph }
	yn := func(n int) float64 { return float64(top) + ph - float64(n)/float64(maxN)*ph }

	b := bufio.NewWriter(w)
	fmt.Fprintf(b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="12">`+"\n", W, H, W, H)
	fmt.Fprintf(b, `<rect width="%d" height="%d" fill="white"/>`+"\n", W, H)
	fmt.Fprintf(b, `<text x="%d" y="24" font-size="16" font-weight="bold">%s</text>`+"\n", left, html.EscapeString(title))
	// Grid and axes.
	for i := 0; i <= 5; i++ {
		v := maxV * float64(i) / 5
		y := yv(v)
		fmt.Fprintf(b, `<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="#e5e5e5"/>`+"\n", left, y, W-right, y)
		fmt.Fprintf(b, `<text x="%d" y="%.1f" text-anchor="end" fill="#1f5fbf">%s</text>`+"\n", left-6, y+4, human(v))
	}
	for n := 0; n <= maxN; n += max(1, maxN/8) {
		fmt.Fprintf(b, `<text x="%d" y="%.1f" fill="#2e7d32">%d</text>`+"\n", W-right+6, yn(n)+4, n)
	}
	ticks := 6
	for i := 0; i <= ticks; i++ {
		t := t0.Add(time.Duration(float64(i) / float64(ticks) * span * float64(time.Second)))
		fmt.Fprintf(b, `<text x="%.1f" y="%d" text-anchor="middle">%s</text>`+"\n", x(t), H-bot+18, t.Sub(t0).Round(time.Second))
	}
	fmt.Fprintf(b, `<rect x="%d" y="%d" width="%.0f" height="%.0f" fill="none" stroke="#999"/>`+"\n", left, top, pw, ph)
	fmt.Fprintf(b, `<text transform="translate(18 %d) rotate(-90)" text-anchor="middle" fill="#1f5fbf">metric</text>`+"\n", top+int(ph/2))
	fmt.Fprintf(b, `<text transform="translate(%d %d) rotate(90)" text-anchor="middle" fill="#2e7d32">instances</text>`+"\n", W-18, top+int(ph/2))
	fmt.Fprintf(b, `<text x="%.0f" y="%d" text-anchor="middle">time since %s</text>`+"\n", float64(left)+pw/2, H-bot+34, t0.UTC().Format(time.RFC3339))

	// Over-capacity spans.
	for i, p := range pts {
		if !p.Over {
			continue
		}
		end := t1
		if i+1 < len(pts) {
			end = pts[i+1].Time
		}
		fmt.Fprintf(b, `<rect x="%.1f" y="%d" width="%.1f" height="%.0f" fill="#fbe3e3"/>`+"\n", x(p.Time), top, math.Max(x(end)-x(p.Time), 0.5), ph)
	}
	// Capacity of the running instances (bound × actual).
	if r.Summary.Bound > 0 {
		var s strings.Builder
		for i, p := range pts {
			c := r.Summary.Bound * float64(p.Actual)
			if i > 0 {
				fmt.Fprintf(&s, " %.1f,%.1f", x(p.Time), yv(r.Summary.Bound*float64(pts[i-1].Actual)))
			}
			fmt.Fprintf(&s, " %.1f,%.1f", x(p.Time), yv(c))
		}
		fmt.Fprintf(b, `<polyline points="%s" fill="none" stroke="#1f5fbf" stroke-opacity="0.35" stroke-dasharray="2 3"/>`+"\n", s.String())
	}
	// Metric.
	var s strings.Builder
	for _, p := range pts {
		if p.HasValue {
			fmt.Fprintf(&s, " %.1f,%.1f", x(p.Time), yv(p.Value))
		}
	}
	fmt.Fprintf(b, `<polyline points="%s" fill="none" stroke="#1f5fbf" stroke-width="1.5"/>`+"\n", s.String())
	step := func(get func(Point) int, color, extra string) {
		var s strings.Builder
		for i, p := range pts {
			if i > 0 {
				fmt.Fprintf(&s, " %.1f,%.1f", x(p.Time), yn(get(pts[i-1])))
			}
			fmt.Fprintf(&s, " %.1f,%.1f", x(p.Time), yn(get(p)))
		}
		fmt.Fprintf(b, `<polyline points="%s" fill="none" stroke="%s" stroke-width="2" %s/>`+"\n", s.String(), color, extra)
	}
	step(func(p Point) int { return p.Recommended }, "#ef6c00", `stroke-dasharray="6 4"`)
	step(func(p Point) int { return p.Actual }, "#2e7d32", "")

	// Legend.
	ly := H - bot + 56
	legend := []struct{ color, dash, label string }{
		{"#1f5fbf", "", "metric (left axis)"},
		{"#1f5fbf", "2 3", "capacity of running instances"},
		{"#ef6c00", "6 4", "recommended count"},
		{"#2e7d32", "", "running count"},
	}
	lx := left
	for _, l := range legend {
		fmt.Fprintf(b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="%s" stroke-width="2" stroke-dasharray="%s"/>`, lx, ly, lx+24, ly, l.color, l.dash)
		fmt.Fprintf(b, `<text x="%d" y="%d">%s</text>`+"\n", lx+30, ly+4, l.label)
		lx += 40 + 7*len(l.label)
	}
	fmt.Fprintf(b, `<rect x="%d" y="%d" width="14" height="10" fill="#fbe3e3"/><text x="%d" y="%d">over the upper bound</text>`+"\n", lx, ly-6, lx+20, ly+4)
	sm := r.Summary
	fmt.Fprintf(b, `<text x="%d" y="%d">%d actions (%d up, %d down) · peak %d instances · %.2f instance-hours · %s over the upper bound (%s per instance)</text>`+"\n",
		left, ly+30, sm.Actions, sm.ScaleUps, sm.ScaleDowns, sm.PeakCount, sm.InstanceSeconds/3600, sm.OverUpper, human(sm.Bound))
	fmt.Fprintln(b, `</svg>`)
	return b.Flush()
}

func niceCeil(v float64) float64 {
	if v <= 0 {
		return 0
	}
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 2.5, 5, 10} {
		if m*p >= v {
			return m * p
		}
	}
	return 10 * p
}

func human(v float64) string {
	switch {
	case v >= 1e6:
		return fmt.Sprintf("%gM", math.Round(v/1e5)/10)
	case v >= 1e3:
		return fmt.Sprintf("%gk", math.Round(v/1e2)/10)
	}
	return fmt.Sprintf("%g", math.Round(v*100)/100)
}
