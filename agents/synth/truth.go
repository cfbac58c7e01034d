package synth

import (
	"encoding/json"
	"fmt"
	"os"
)

// Totals counts what was sent for one scope (everything, one agent, one
// tenant).
type Totals struct {
	Datagrams      uint64 `json:"datagrams,omitempty"`
	FlowSamples    uint64 `json:"flow_samples"`
	CounterSamples uint64 `json:"counter_samples,omitempty"`
	// Packets is Σ sampling_rate over the flow samples: the estimated
	// number of packets they stand for.
	Packets uint64 `json:"packets"`
	// Bytes is Σ frame_length × sampling_rate over the flow samples.
	Bytes uint64 `json:"bytes"`
}

func (t *Totals) addFlow(rate uint32, frameLen int) {
	t.FlowSamples++
	t.Packets += uint64(rate)
	t.Bytes += uint64(rate) * uint64(frameLen)
}

// Truth is the ground truth of one run, written as one JSON object: what a
// lossless collector must report.
type Truth struct {
	Scenario string  `json:"scenario"`
	Seed     int64   `json:"seed"`
	Rate     float64 `json:"rate"`
	// DurationSeconds is the scheduled length of the run.
	DurationSeconds float64 `json:"duration_seconds"`
	// ElapsedSeconds is how long sending actually took.
	ElapsedSeconds float64 `json:"elapsed_seconds"`
	// Interrupted is true when the run was stopped before its end; the
	// totals still describe exactly what was sent.
	Interrupted bool `json:"interrupted,omitempty"`
	Totals
	// CounterRecords counts the counter records inside the counter
	// samples (generic interface and Ethernet: two per sample).
	CounterRecords uint64 `json:"counter_records"`
	// SampledFrameBytes is Σ frame_length over the flow samples, unscaled.
	SampledFrameBytes uint64 `json:"sampled_frame_bytes"`
	// DatagramBytes is the sum of the sFlow payload sizes sent.
	DatagramBytes uint64 `json:"datagram_bytes"`
	// Agents holds per agent address totals (sub-agents summed).
	Agents map[string]*Totals `json:"agents"`
	// Tenants holds per tenant totals; a flow counts for every tenant it
	// matches. Present only when tenants are configured.
	Tenants map[string]*Totals `json:"tenants,omitempty"`
	// Unmatched counts the flows no tenant matched (with tenants only).
	Unmatched *Totals `json:"unmatched,omitempty"`
	// SamplingRates counts flow samples per sampling rate.
	SamplingRates map[uint32]uint64 `json:"sampling_rates"`
}

func newTruth() *Truth {
	return &Truth{Agents: map[string]*Totals{}, SamplingRates: map[uint32]uint64{}}
}

func (t *Truth) agent(addr string) *Totals {
	a := t.Agents[addr]
	if a == nil {
		a = &Totals{}
		t.Agents[addr] = a
	}
	return a
}

// ReadTruth reads a truth file written by the agent.
func ReadTruth(path string) (*Truth, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read truth: %w", err)
	}
	var t Truth
	if err := json.Unmarshal(b, &t); err != nil {
		return nil, fmt.Errorf("parse truth %s: %w", path, err)
	}
	return &t, nil
}

// writeFile writes the truth atomically: a reader never sees half a file.
func (t *Truth) writeFile(path string) error {
	b, err := json.MarshalIndent(t, "", "  ")
	if err != nil {
		return fmt.Errorf("encode truth: %w", err)
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("write truth: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("write truth: %w", err)
	}
	return nil
}
