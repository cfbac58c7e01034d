package esexporter

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil/promlint"

	elasticsearch "github.com/elk-project/elk/collector/sink/elasticsearch"

	"github.com/elk-project/elk/deploy/dev/servicetest"
)

func scrape(t *testing.T, esURL string) string {
	t.Helper()
	e, err := New(Config{ES: elasticsearch.Config{URLs: []string{esURL}}}, Deps{})
	if err != nil {
		t.Fatal(err)
	}
	h, err := e.Handler()
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	defer srv.Close()
	res, err := http.Get(srv.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	return string(body)
}

func TestExportsThreadPoolsFromRecordedResponse(t *testing.T) {
	recorded, err := os.ReadFile("testdata/nodes_stats_thread_pool_7.17.json")
	if err != nil {
		t.Fatal(err)
	}
	es := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/_nodes/stats/thread_pool" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("X-Elastic-Product", "Elasticsearch")
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(recorded)
	}))
	defer es.Close()
	out := scrape(t, es.URL)
	for _, want := range []string{
		"elasticsearch_node_stats_up 1",
		`elasticsearch_thread_pool_queue_count{cluster="elk-dev",es_client_node="false",es_data_node="true",es_ingest_node="true",es_master_node="true",host="127.0.0.1",name="elk-dev-1",type="write"}`,
		`elasticsearch_thread_pool_rejected_count{cluster="elk-dev"`,
		`elasticsearch_thread_pool_active_count{`,
		`elasticsearch_thread_pool_completed_count{`,
		`elasticsearch_thread_pool_threads_count{`,
		`elasticsearch_thread_pool_largest_count{`,
		"# TYPE elasticsearch_thread_pool_rejected_count counter",
		"# TYPE elasticsearch_thread_pool_queue_count gauge",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("scrape lacks %q", want)
		}
	}
}

func TestUpIsZeroWhenClusterDown(t *testing.T) {
	es := httptest.NewServer(http.NotFoundHandler())
	url := es.URL
	es.Close()
	if out := scrape(t, url); !strings.Contains(out, "elasticsearch_node_stats_up 0") {
		t.Errorf("scrape of a stopped cluster lacks elasticsearch_node_stats_up 0")
	}
}

func TestRealCluster(t *testing.T) {
	url := servicetest.Service(t, "ELK_TEST_ES")
	out := scrape(t, url)
	if !strings.Contains(out, "elasticsearch_node_stats_up 1") || !strings.Contains(out, `type="write"`) {
		t.Errorf("scrape of %s lacks up=1 or the write pool:\n%.2000s", url, out)
	}
}

func TestMetricNamesLint(t *testing.T) {
	e, err := New(Config{ES: elasticsearch.Config{URLs: []string{"http://127.0.0.1:1"}}}, Deps{})
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(e)
	_ = context.Background()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	problems, err := promlint.NewWithMetricFamilies(mfs).Lint()
	if err != nil {
		t.Fatal(err)
	}
	// The names are fixed by elasticsearch_exporter (counters without
	// _total): those findings are expected; anything else is not.
	for _, p := range problems {
		if strings.Contains(p.Text, "counter metrics should have \"_total\" suffix") {
			continue
		}
		t.Errorf("promlint: %s: %s", p.Metric, p.Text)
	}
}
