// Package simulate runs the real policy engine on a virtual clock over
// recorded metrics (a recording file or a Prometheus range query) and
// reports what it would have done: a timeline, a summary and an SVG plot.
package simulate

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/elk-project/elk/policies/source"
)

// Recording is metric samples by series name, each sorted by time. The
// series "" applies to every check without its own series.
//
// File format, CSV (lines starting with # are comments, an optional header
// "time,value,series" is skipped):
//
//	time,value[,series]
//	2026-11-27T03:00:00Z,1234.5,ingest
//	1795748400,1240
//
// time is RFC 3339 or Unix seconds; series names a check. JSON lines work
// too: {"time": "...", "value": 1.5, "series": "ingest"}.
type Recording map[string][]source.Sample

// ReadRecording parses a recording.
func ReadRecording(r io.Reader) (Recording, error) {
	rec := Recording{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	line := 0
	for sc.Scan() {
		line++
		text := strings.TrimSpace(sc.Text())
		if text == "" || text[0] == '#' || strings.HasPrefix(text, "time,") {
			continue
		}
		var ts, series string
		var value float64
		if text[0] == '{' {
			var j struct {
				Time   json.RawMessage `json:"time"`
				Value  *float64        `json:"value"`
				Series string          `json:"series"`
			}
			if err := json.Unmarshal([]byte(text), &j); err != nil || j.Value == nil {
				return nil, fmt.Errorf("line %d: want {\"time\":..., \"value\":...}: %v", line, err)
			}
			ts, value, series = strings.Trim(string(j.Time), `"`), *j.Value, j.Series
		} else {
			f := strings.Split(text, ",")
			if len(f) < 2 || len(f) > 3 {
				return nil, fmt.Errorf("line %d: want time,value[,series]", line)
			}
			v, err := strconv.ParseFloat(strings.TrimSpace(f[1]), 64)
			if err != nil {
				return nil, fmt.Errorf("line %d: value %q: %v", line, f[1], err)
			}
			ts, value = strings.TrimSpace(f[0]), v
			if len(f) == 3 {
				series = strings.TrimSpace(f[2])
			}
		}
		t, err := parseTime(ts)
		if err != nil {
			return nil, fmt.Errorf("line %d: %v", line, err)
		}
		if math.IsNaN(value) || math.IsInf(value, 0) {
			continue
		}
		rec[series] = append(rec[series], source.Sample{Value: value, Time: t})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read recording: %w", err)
	}
	if len(rec) == 0 {
		return nil, fmt.Errorf("recording has no samples")
	}
	for _, s := range rec {
		sort.SliceStable(s, func(i, j int) bool { return s[i].Time.Before(s[j].Time) })
	}
	return rec, nil
}

func parseTime(s string) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return time.Time{}, fmt.Errorf("time %q is neither RFC 3339 nor Unix seconds", s)
	}
	sec, frac := math.Modf(f)
	return time.Unix(int64(sec), int64(frac*1e9)).UTC(), nil
}

// Write writes the recording in the CSV format.
func (r Recording) Write(w io.Writer, comment string) error {
	bw := bufio.NewWriter(w)
	for _, l := range strings.Split(strings.TrimSpace(comment), "\n") {
		if l != "" {
			fmt.Fprintf(bw, "# %s\n", l)
		}
	}
	fmt.Fprintln(bw, "time,value,series")
	names := make([]string, 0, len(r))
	for n := range r {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		for _, s := range r[n] {
			fmt.Fprintf(bw, "%s,%s,%s\n", s.Time.UTC().Format(time.RFC3339Nano), strconv.FormatFloat(s.Value, 'f', -1, 64), n)
		}
	}
	return bw.Flush()
}

// span returns the first and last sample times.
func (r Recording) span() (time.Time, time.Time) {
	var first, last time.Time
	for _, s := range r {
		if len(s) == 0 {
			continue
		}
		if first.IsZero() || s[0].Time.Before(first) {
			first = s[0].Time
		}
		if l := s[len(s)-1].Time; l.After(last) {
			last = l
		}
	}
	return first, last
}

// at returns the latest sample of series at or before t.
func at(samples []source.Sample, t time.Time) (source.Sample, bool) {
	i := sort.Search(len(samples), func(i int) bool { return samples[i].Time.After(t) })
	if i == 0 {
		return source.Sample{}, false
	}
	return samples[i-1], true
}
