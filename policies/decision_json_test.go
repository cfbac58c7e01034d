package policies

import (
	"encoding/json"
	"math"
	"strings"
	"testing"
)

// A reading that somehow holds a non-finite value still encodes, as a
// missing one, and so does the decision around it.
func TestReadingNonFiniteEncodesAsMissing(t *testing.T) {
	for _, v := range []float64{math.NaN(), math.Inf(1), math.Inf(-1)} {
		d := Decision{Readings: []Reading{{Check: "rate", Value: v}, {Check: "lag", Value: 1e300}}}
		b, err := json.Marshal(d)
		if err != nil {
			t.Fatalf("%v: %v", v, err)
		}
		var back Decision
		if err := json.Unmarshal(b, &back); err != nil {
			t.Fatalf("%v: %s: %v", v, b, err)
		}
		if !back.Readings[0].Missing || back.Readings[0].Value != 0 {
			t.Errorf("%v: reading = %+v, want missing", v, back.Readings[0])
		}
		if back.Readings[1].Value != 1e300 || back.Readings[1].Missing {
			t.Errorf("1e300: reading = %+v, want kept", back.Readings[1])
		}
		if strings.Contains(string(b), "NaN") {
			t.Errorf("%s", b)
		}
	}
}
