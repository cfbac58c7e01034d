package servicetest

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/elastic/go-elasticsearch/v8"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// service returns the value of env or skips the test (fails it when
// ELK_TEST_REQUIRE_SERVICES=1).
func service(t *testing.T, env string) string {
	t.Helper()
	v := os.Getenv(env)
	if v == "" {
		if os.Getenv("ELK_TEST_REQUIRE_SERVICES") == "1" {
			t.Fatalf("%s is unset but ELK_TEST_REQUIRE_SERVICES=1", env)
		}
		t.Skipf("%s unset: run deploy/dev/services up and . deploy/dev/env", env)
	}
	return v
}

func uniqueName(prefix string) string {
	return fmt.Sprintf("%s-%d", prefix, time.Now().UnixNano())
}

func TestElasticsearchProductAndIndexing(t *testing.T) {
	addr := service(t, "ELK_TEST_ES")
	// elasticsearch.NewClient runs go-elasticsearch's product check on the first request.
	es, err := elasticsearch.NewClient(elasticsearch.Config{Addresses: []string{addr}})
	if err != nil {
		t.Fatalf("creating client: %v", err)
	}
	res, err := es.Info()
	if err != nil {
		t.Fatalf("info (product check): %v", err)
	}
	var info struct {
		Version struct {
			Number string `json:"number"`
		} `json:"version"`
	}
	decode(t, res.Body, &info)
	res.Body.Close()
	if got := res.Header.Get("X-Elastic-Product"); got != "Elasticsearch" {
		t.Errorf("X-Elastic-Product = %q, want Elasticsearch", got)
	}
	if !strings.HasPrefix(info.Version.Number, "7.17.") {
		t.Errorf("version = %q, want 7.17.x", info.Version.Number)
	}

	index := uniqueName("servicetest")
	t.Cleanup(func() {
		if res, err := es.Indices.Delete([]string{index}); err == nil {
			res.Body.Close()
		}
	})
	body := fmt.Sprintf(`{"create":{"_index":%q,"_id":"a"}}
{"network":{"bytes":100}}
{"create":{"_index":%q,"_id":"b"}}
{"network":{"bytes":20}}
{"create":{"_index":%q,"_id":"a"}}
{"network":{"bytes":100}}
`, index, index, index)
	res, err = es.Bulk(strings.NewReader(body), es.Bulk.WithRefresh("true"))
	if err != nil {
		t.Fatalf("bulk: %v", err)
	}
	var bulk struct {
		Items []map[string]struct {
			Status int `json:"status"`
		} `json:"items"`
	}
	decode(t, res.Body, &bulk)
	res.Body.Close()
	var statuses []int
	for _, it := range bulk.Items {
		statuses = append(statuses, it["create"].Status)
	}
	if fmt.Sprint(statuses) != "[201 201 409]" {
		t.Errorf("bulk create statuses = %v, want [201 201 409] (the repeated _id rejected)", statuses)
	}
	res, err = es.Count(es.Count.WithIndex(index))
	if err != nil {
		t.Fatalf("count: %v", err)
	}
	var count struct {
		Count int `json:"count"`
	}
	decode(t, res.Body, &count)
	res.Body.Close()
	if count.Count != 2 {
		t.Errorf("count = %d, want 2", count.Count)
	}
}

func TestKafkaRoundTrip(t *testing.T) {
	broker := service(t, "ELK_TEST_KAFKA")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	topic := uniqueName("servicetest")
	cl, err := kgo.NewClient(kgo.SeedBrokers(broker))
	if err != nil {
		t.Fatalf("creating client: %v", err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	created, err := adm.CreateTopic(ctx, -1, -1, nil, topic)
	if err != nil || created.Err != nil {
		t.Fatalf("creating topic %s: %v %v", topic, err, created.Err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_, _ = adm.DeleteTopics(ctx, topic)
	})
	if created.NumPartitions != 4 {
		t.Errorf("default partitions = %d, want 4", created.NumPartitions)
	}
	const n = 20
	for i := 0; i < n; i++ {
		rec := &kgo.Record{Topic: topic, Key: []byte(fmt.Sprint(i % 3)), Value: []byte(fmt.Sprint(i))}
		if err := cl.ProduceSync(ctx, rec).FirstErr(); err != nil {
			t.Fatalf("producing: %v", err)
		}
	}
	cons, err := kgo.NewClient(kgo.SeedBrokers(broker), kgo.ConsumeTopics(topic),
		kgo.ConsumerGroup(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatalf("creating consumer: %v", err)
	}
	defer cons.Close()
	got := 0
	for got < n {
		fs := cons.PollFetches(ctx)
		if err := fs.Err0(); err != nil {
			t.Fatalf("consuming after %d records: %v", got, err)
		}
		got += fs.NumRecords()
	}
	if err := cons.CommitUncommittedOffsets(ctx); err != nil {
		t.Fatalf("committing offsets: %v", err)
	}
	if got != n {
		t.Errorf("consumed %d records, want %d", got, n)
	}
}

func TestPrometheusScrapesFileSDTargets(t *testing.T) {
	prom := service(t, "ELK_TEST_PROMETHEUS")
	dir := service(t, "ELK_TEST_PROMETHEUS_TARGETS")

	job := uniqueName("servicetest")
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; version=0.0.4")
		fmt.Fprintln(w, "# TYPE servicetest_up gauge")
		fmt.Fprintln(w, "servicetest_up 1")
	}))
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "http://")
	if _, _, err := net.SplitHostPort(host); err != nil {
		t.Fatalf("test server address %q: %v", host, err)
	}
	file := filepath.Join(dir, job+".json")
	sd := fmt.Sprintf(`[{"targets":[%q],"labels":{"job":%q}}]`, host, job)
	if err := os.WriteFile(file, []byte(sd), 0o644); err != nil {
		t.Fatalf("writing file_sd target: %v", err)
	}
	defer os.Remove(file)

	// file_sd refresh 5 s + scrape interval 2 s: the sample shows up well within 30 s.
	q := prom + "/api/v1/query?query=" + url.QueryEscape(fmt.Sprintf(`servicetest_up{job=%q}`, job))
	deadline := time.Now().Add(30 * time.Second)
	for {
		res, err := http.Get(q)
		if err != nil {
			t.Fatalf("querying Prometheus: %v", err)
		}
		var out struct {
			Status string `json:"status"`
			Data   struct {
				Result []json.RawMessage `json:"result"`
			} `json:"data"`
		}
		decode(t, res.Body, &out)
		res.Body.Close()
		if out.Status == "success" && len(out.Data.Result) == 1 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("Prometheus has no sample from the file_sd target %s after 30s (status %q, %d results)",
				host, out.Status, len(out.Data.Result))
		}
		time.Sleep(500 * time.Millisecond)
	}
}

func decode(t *testing.T, r io.Reader, v any) {
	t.Helper()
	if err := json.NewDecoder(r).Decode(v); err != nil {
		t.Fatalf("decoding response: %v", err)
	}
}
