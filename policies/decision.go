package policies

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// Direction of a vote or action.
type Direction string

// Directions.
const (
	Up   Direction = "up"
	None Direction = "none"
	Down Direction = "down"
)

// Clip names what changed or blocked a recommendation on its way to an
// action.
type Clip string

// Clip reasons, in the order the engine applies them.
const (
	ClipPaused        Clip = "paused"
	ClipPinned        Clip = "pinned"
	ClipDeploying     Clip = "deployment_in_progress"
	ClipStandby       Clip = "standby"
	ClipMissingData   Clip = "missing_data"
	ClipSourceDown    Clip = "source_down"
	ClipWarmup        Clip = "warmup"
	ClipStabilization Clip = "stabilization"
	ClipStep          Clip = "max_step"
	ClipMin           Clip = "min"
	ClipMax           Clip = "max"
)

// Clips lists every clip reason (for metrics).
var Clips = []Clip{ClipPaused, ClipPinned, ClipDeploying, ClipStandby, ClipMissingData, ClipSourceDown, ClipWarmup, ClipStabilization, ClipStep, ClipMin, ClipMax}

// Reading is one metric value read for a check.
type Reading struct {
	Check      string    `json:"check"`
	Value      float64   `json:"value"`
	SampleTime time.Time `json:"sample_time,omitzero"`
	// Missing: no value (empty result, stale sample or source error).
	Missing bool   `json:"missing,omitempty"`
	Stale   bool   `json:"stale,omitempty"`
	Error   string `json:"error,omitempty"` // the source's error
}

// MarshalJSON writes a NaN or ±Inf value (which the sources already turn
// into missing data) as a missing reading, so a journal never fails to
// encode.
func (r Reading) MarshalJSON() ([]byte, error) {
	type plain Reading
	if math.IsNaN(r.Value) || math.IsInf(r.Value, 0) {
		r.Value, r.Missing = 0, true
	}
	return json.Marshal(plain(r))
}

// Vote is one check's recommendation.
type Vote struct {
	Check     string    `json:"check"`
	Count     int       `json:"count"`
	Direction Direction `json:"direction"`
	Why       string    `json:"why"`
}

// Decision is the outcome of one evaluation of a policy: what was read, how
// each check voted, what clipped the result and what was done. Its Message
// is the reason attached to the scale request.
type Decision struct {
	Policy      string    `json:"policy"` // app/entity
	Version     int       `json:"version"`
	Time        time.Time `json:"time"`
	Current     int       `json:"current"`
	Readings    []Reading `json:"readings,omitempty"`
	Votes       []Vote    `json:"votes,omitempty"`
	Recommended int       `json:"recommended"` // combined vote before controls
	Desired     int       `json:"desired"`     // after controls
	ClippedBy   []Clip    `json:"clipped_by,omitempty"`
	Action      Direction `json:"action"` // none when Desired == Current or nothing was done
	Error       string    `json:"error,omitempty"`
	Skipped     bool      `json:"skipped,omitempty"` // not evaluated (paused, deploying)
}

// Clipped reports whether c clipped the decision.
func (d *Decision) Clipped(c Clip) bool {
	for _, x := range d.ClippedBy {
		if x == c {
			return true
		}
	}
	return false
}

// Clip records a clip reason once.
func (d *Decision) Clip(c Clip) {
	if !d.Clipped(c) {
		d.ClippedBy = append(d.ClippedBy, c)
	}
}

// Message is a one-line human explanation, e.g. "scale up 2→5: ingest
// 94000 (target 20000 per instance) wants 5; clipped by max_step".
func (d *Decision) Message() string {
	var b strings.Builder
	switch {
	case d.Action == Up || d.Action == Down:
		fmt.Fprintf(&b, "scale %s %d→%d", d.Action, d.Current, d.Desired)
	default:
		fmt.Fprintf(&b, "hold at %d", d.Current)
	}
	var why []string
	for _, v := range d.Votes {
		why = append(why, v.Check+": "+v.Why)
	}
	if len(why) > 0 {
		b.WriteString(": ")
		b.WriteString(strings.Join(why, "; "))
	}
	if d.Recommended != d.Desired && !d.Skipped {
		fmt.Fprintf(&b, "; recommended %d", d.Recommended)
	}
	if len(d.ClippedBy) > 0 {
		cs := make([]string, len(d.ClippedBy))
		for i, c := range d.ClippedBy {
			cs[i] = string(c)
		}
		b.WriteString("; clipped by ")
		b.WriteString(strings.Join(cs, ", "))
	}
	if d.Error != "" {
		b.WriteString("; error: ")
		b.WriteString(d.Error)
	}
	return b.String()
}

// Meta is the decision as flat key/values for targets that store scaling
// metadata (Nomad scaling events).
func (d *Decision) Meta() map[string]string {
	m := map[string]string{
		"elk_policy":         d.Policy,
		"elk_policy_version": strconv.Itoa(d.Version),
		"elk_recommended":    strconv.Itoa(d.Recommended),
		"elk_previous_count": strconv.Itoa(d.Current),
	}
	if len(d.ClippedBy) > 0 {
		cs := make([]string, len(d.ClippedBy))
		for i, c := range d.ClippedBy {
			cs[i] = string(c)
		}
		m["elk_clipped_by"] = strings.Join(cs, ",")
	}
	for _, r := range d.Readings {
		if !r.Missing {
			m["elk_value_"+r.Check] = strconv.FormatFloat(r.Value, 'g', 6, 64)
		}
	}
	return m
}
