package prometheus

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/elk-project/elk/policies"
	"github.com/elk-project/elk/policies/source"

	"github.com/elk-project/elk/deploy/dev/servicetest"
)

// replay answers like the recorded Prometheus.
func replay(t *testing.T) *httptest.Server {
	files := map[string]string{
		"sum(rate(prometheus_http_requests_total[1m]))": "query-one-series.json",
		"sum(nonexistent_metric_total)":                 "query-empty.json",
		"up":                                            "query-one-up.json",
		"prometheus_http_requests_total":                "query-many-series.json",
		"sum(rate(x[1m]":                                "query-bad.json",
		"scalar(sum(up))":                               "query-scalar.json",
	}
	return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		q := r.Form.Get("query")
		name := files[q]
		if strings.HasSuffix(r.URL.Path, "/query_range") {
			name = "query-range.json"
		}
		data, err := os.ReadFile("testdata/" + name)
		if err != nil || name == "" {
			http.Error(w, "unrecorded query "+q, http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		if name == "query-bad.json" {
			w.WriteHeader(http.StatusBadRequest)
		}
		_, _ = w.Write(data)
	}))
}

func read(t *testing.T, s *Source, query string) (source.Sample, error) {
	return s.Read(context.Background(), source.Query{App: "demo", Entity: "c", Check: policies.Check{Name: "x", Query: query}})
}

func TestReadRecorded(t *testing.T) {
	srv := replay(t)
	defer srv.Close()
	s, err := New(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		query   string
		want    float64
		noData  bool
		failing bool
	}{
		{"sum(rate(prometheus_http_requests_total[1m]))", 0.13806666666666667, false, false},
		{"up", 1, false, false},
		{"scalar(sum(up))", 1, false, false},
		{"sum(nonexistent_metric_total)", 0, true, false},
		{"prometheus_http_requests_total", 0, true, false},
		{"sum(rate(x[1m]", 0, false, true},
	}
	for _, tc := range tests {
		t.Run(tc.query, func(t *testing.T) {
			got, err := read(t, s, tc.query)
			switch {
			case tc.noData:
				if !errors.Is(err, source.ErrNoData) {
					t.Fatalf("want ErrNoData, got %v", err)
				}
			case tc.failing:
				if err == nil || errors.Is(err, source.ErrNoData) || !strings.Contains(err.Error(), "parse error") {
					t.Fatalf("want a source error, got %v", err)
				}
			default:
				if err != nil {
					t.Fatal(err)
				}
				if got.Value != tc.want || got.Time.Year() != 2026 {
					t.Errorf("got %+v, want %v at a 2026 timestamp", got, tc.want)
				}
			}
		})
	}
	r, err := s.Range(context.Background(), "sum(up)", time.Now().Add(-5*time.Second), time.Now(), time.Second)
	if err != nil || len(r) != 6 || r[0].Value != 1 {
		t.Errorf("range: %+v %v", r, err)
	}
}

func TestDeadServerIsASourceError(t *testing.T) {
	srv := replay(t)
	srv.Close()
	s, _ := New(srv.URL)
	_, err := read(t, s, "up")
	if err == nil || errors.Is(err, source.ErrNoData) {
		t.Errorf("want a source error, got %v", err)
	}
}

func TestRealPrometheus(t *testing.T) {
	addr := servicetest.Service(t, "ELK_TEST_PROMETHEUS")
	s, err := New(addr)
	if err != nil {
		t.Fatal(err)
	}
	got, err := read(t, s, "vector(42)")
	if err != nil || got.Value != 42 || time.Since(got.Time) > time.Minute {
		t.Fatalf("vector(42): %+v %v", got, err)
	}
	if _, err := read(t, s, "sum(elk_no_such_metric_total)"); !errors.Is(err, source.ErrNoData) {
		t.Errorf("empty result: %v", err)
	}
}

// TestNonFiniteAnswers: a Prometheus answering NaN or ±Inf (a division by
// zero in a query, say) gives missing data, instant or range, never a value.
func TestNonFiniteAnswers(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		w.Header().Set("Content-Type", "application/json")
		if strings.HasSuffix(r.URL.Path, "/query_range") {
			io.WriteString(w, `{"status":"success","data":{"resultType":"matrix","result":[{"metric":{},"values":[[1795748700,"1"],[1795748701,"NaN"],[1795748702,"+Inf"],[1795748703,"-Inf"],[1795748704,"2"]]}]}}`)
			return
		}
		fmt.Fprintf(w, `{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1795748703.215,%q]}]}}`, r.Form.Get("query"))
	}))
	defer srv.Close()
	s, err := New(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range []string{"NaN", "+Inf", "-Inf"} {
		if got, err := read(t, s, v); !errors.Is(err, source.ErrNoData) {
			t.Errorf("instant query answering %s: %+v, %v; want ErrNoData", v, got, err)
		}
	}
	r, err := s.Range(context.Background(), "q", time.Unix(1795748700, 0), time.Unix(1795748704, 0), time.Second)
	if err != nil || len(r) != 2 || r[0].Value != 1 || r[1].Value != 2 {
		t.Errorf("range with non-finite points: %+v, %v; want the two finite points", r, err)
	}
}
