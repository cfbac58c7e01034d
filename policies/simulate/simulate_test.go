package simulate

import (
	"bytes"
	"context"
	"encoding/xml"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/elk-project/elk/policies"
	"github.com/elk-project/elk/policies/source"
)

// spike: 15k/s for 2 minutes, 75k/s for 2 minutes, 15k/s for 4 minutes.
func spike() Recording {
	start := time.Date(2026, 11, 27, 3, 0, 0, 0, time.UTC)
	var s []source.Sample
	for i := 0; i <= 480; i++ {
		v := 15000.0
		if i >= 120 && i < 240 {
			v = 75000
		}
		s = append(s, source.Sample{Time: start.Add(time.Duration(i) * time.Second), Value: v})
	}
	return Recording{"ingest": s}
}

func TestSimulateSpike(t *testing.T) {
	p, err := policies.Load("testdata/spike-policy.yaml")
	if err != nil {
		t.Fatal(err)
	}
	res, err := Run(context.Background(), Config{Policy: p, Recording: spike(), Startup: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	sum := res.Summary
	if sum.PeakCount != 4 {
		t.Errorf("peak count %d, want 4 (75k/s at 20k/s per instance)", sum.PeakCount)
	}
	if sum.ScaleUps != 1 || sum.ScaleDowns != 1 {
		t.Errorf("actions: %d up, %d down; want one of each", sum.ScaleUps, sum.ScaleDowns)
	}
	last := res.Points[len(res.Points)-1]
	if last.Actual != 1 {
		t.Errorf("count at the end %d, want back to 1", last.Actual)
	}
	// Reaction: spike at 120s; one up window (10s) + one interval (5s)
	// + startup (5s) later 4 instances run.
	var reached time.Duration
	for _, pt := range res.Points {
		if pt.Actual == 4 {
			reached = pt.Time.Sub(res.Points[0].Time)
			break
		}
	}
	if reached == 0 || reached > 120*time.Second+10*time.Second+5*time.Second+5*time.Second {
		t.Errorf("4 instances running at %v, want by 140s", reached)
	}
	if sum.OverUpper > 25*time.Second || sum.OverUpper == 0 {
		t.Errorf("over the upper bound for %v, want the reaction time only", sum.OverUpper)
	}
	var buf bytes.Buffer
	if err := SVG(&buf, "spike", res); err != nil {
		t.Fatal(err)
	}
	dec := xml.NewDecoder(&buf)
	for {
		_, err := dec.Token()
		if err != nil {
			if err.Error() != "EOF" {
				t.Fatalf("SVG is not well-formed XML: %v", err)
			}
			break
		}
	}
	if !strings.Contains(sum.String(), "actions: 2 (1 up, 1 down)") {
		t.Errorf("summary text: %s", sum)
	}
}

func TestRecordingFormats(t *testing.T) {
	in := `# synthetic
time,value,series
2026-11-27T03:00:01Z,2,ingest
2026-11-27T03:00:00Z,1,ingest
1795748400,5
{"time": "2026-11-27T03:00:02Z", "value": 3, "series": "ingest"}
{"time": 1795748401.5, "value": 6}
`
	rec, err := ReadRecording(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(values(rec["ingest"])); got != "[1 2 3]" {
		t.Errorf("ingest %s, want sorted [1 2 3]", got)
	}
	if got := fmt.Sprint(values(rec[""])); got != "[5 6]" {
		t.Errorf("unnamed %s", got)
	}
	var buf bytes.Buffer
	if err := rec.Write(&buf, "round trip"); err != nil {
		t.Fatal(err)
	}
	back, err := ReadRecording(&buf)
	if err != nil || fmt.Sprint(back) != fmt.Sprint(rec) {
		t.Errorf("round trip: %v %v", back, err)
	}
	for _, bad := range []string{"", "x,1", "2026-11-27T03:00:00Z,abc", "{\"time\": 1}"} {
		if _, err := ReadRecording(strings.NewReader(bad)); err == nil {
			t.Errorf("accepted %q", bad)
		}
	}
}

func values(s []source.Sample) []float64 {
	var out []float64
	for _, x := range s {
		out = append(out, x.Value)
	}
	return out
}

// TestCommittedSpikePlot re-runs the simulation behind
// docs/policy-simulate-spike.svg (the recording comes from the end-to-end
// spike test, policies/e2e) and checks the committed plot is current.
func TestCommittedSpikePlot(t *testing.T) {
	p, err := policies.Load("../testdata/spike/policy.yaml")
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open("../testdata/spike/recording.csv")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rec, err := ReadRecording(f)
	if err != nil {
		t.Fatal(err)
	}
	res, err := Run(context.Background(), Config{Policy: p, Recording: rec, Startup: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if res.Summary.PeakCount != 4 {
		t.Errorf("peak %d, want 4 for 15,000 samples/s at 4,000 per collector", res.Summary.PeakCount)
	}
	var buf bytes.Buffer
	if err := SVG(&buf, spikePlotTitle, res); err != nil {
		t.Fatal(err)
	}
	committed, err := os.ReadFile("../../docs/policy-simulate-spike.svg")
	if err != nil {
		t.Fatalf("read the committed plot: %v", err)
	}
	if !bytes.Equal(committed, buf.Bytes()) {
		t.Errorf("docs/policy-simulate-spike.svg is stale; regenerate it with:\n  elk policy simulate policies/testdata/spike/policy.yaml --metrics policies/testdata/spike/recording.csv --startup 2s --svg docs/policy-simulate-spike.svg --title %q", spikePlotTitle)
	}
}

const spikePlotTitle = "elk policy simulate: collectors on a recorded sFlow spike (3,000 → 15,000 samples/s)"
