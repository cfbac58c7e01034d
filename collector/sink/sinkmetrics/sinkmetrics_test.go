package sinkmetrics

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/elk-project/elk/collector/sink"
)

func value(t *testing.T, c prometheus.Counter) float64 {
	t.Helper()
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.Counter.GetValue()
}

func TestSharedRegistry(t *testing.T) {
	reg := prometheus.NewRegistry()
	a, err := New(reg, "file")
	if err != nil {
		t.Fatal(err)
	}
	b, err := New(reg, "stdout")
	if err != nil {
		t.Fatalf("second sink on one registry: %v", err)
	}
	a.Written(&sink.Doc{Tenant: "acme", Body: []byte("{}")})
	a.Failed([]sink.Doc{{Tenant: "acme"}, {}})
	b.Written(&sink.Doc{Body: []byte("{}")})
	tests := []struct {
		name string
		got  prometheus.Counter
		want float64
	}{
		{"file acme written", a.Counter("acme", OutcomeWritten), 1},
		{"file acme failed", a.Counter("acme", OutcomeFailed), 1},
		{"file operator failed", a.Counter("", OutcomeFailed), 1},
		{"stdout operator written", b.Counter("", OutcomeWritten), 1},
		{"file bytes", a.bytes, 3},
	}
	for _, tc := range tests {
		if got := value(t, tc.got); got != tc.want {
			t.Errorf("%s = %v, want %v", tc.name, got, tc.want)
		}
	}
}
