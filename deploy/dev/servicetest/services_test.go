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

func uniqueName(prefix string) string {
	return fmt.Sprintf("%s-%d", prefix, time.Now().UnixNano())
}

// eventually runs check until it succeeds or total has passed: other packages'
// tests may restart a service (the pipeline fault tests stop Kafka and
// Elasticsearch) while these run, and that must not fail them.
func eventually(t *testing.T, total time.Duration, check func() error) {
	t.Helper()
	deadline := time.Now().Add(total)
	for attempt := 1; ; attempt++ {
		err := check()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %d attempts in %s: %v", attempt, total, err)
		}
		t.Logf("attempt %d: %v (retrying)", attempt, err)
		time.Sleep(2 * time.Second)
	}
}

func TestElasticsearchProductAndIndexing(t *testing.T) {
	addr := Service(t, "ELK_TEST_ES")
	eventually(t, 90*time.Second, func() error { return checkElasticsearch(addr) })
}

func checkElasticsearch(addr string) error {
	// elasticsearch.NewClient runs go-elasticsearch's product check on the first request.
	es, err := elasticsearch.NewClient(elasticsearch.Config{Addresses: []string{addr}})
	if err != nil {
		return fmt.Errorf("creating client: %w", err)
	}
	res, err := es.Info()
	if err != nil {
		return fmt.Errorf("info (product check): %w", err)
	}
	var info struct {
		Version struct {
			Number string `json:"number"`
		} `json:"version"`
	}
	err = decode(res.Body, &info)
	if err != nil {
		return fmt.Errorf("info: %w", err)
	}
	if got := res.Header.Get("X-Elastic-Product"); got != "Elasticsearch" {
		return fmt.Errorf("X-Elastic-Product = %q, want Elasticsearch", got)
	}
	if !strings.HasPrefix(info.Version.Number, "7.17.") {
		return fmt.Errorf("version = %q, want 7.17.x", info.Version.Number)
	}

	index := uniqueName("servicetest")
	defer func() {
		if res, err := es.Indices.Delete([]string{index}); err == nil {
			res.Body.Close()
		}
	}()
	body := fmt.Sprintf(`{"create":{"_index":%q,"_id":"a"}}
{"network":{"bytes":100}}
{"create":{"_index":%q,"_id":"b"}}
{"network":{"bytes":20}}
{"create":{"_index":%q,"_id":"a"}}
{"network":{"bytes":100}}
`, index, index, index)
	res, err = es.Bulk(strings.NewReader(body), es.Bulk.WithRefresh("true"))
	if err != nil {
		return fmt.Errorf("bulk: %w", err)
	}
	var bulk struct {
		Items []map[string]struct {
			Status int `json:"status"`
		} `json:"items"`
	}
	if err := decode(res.Body, &bulk); err != nil {
		return fmt.Errorf("bulk: %w", err)
	}
	var statuses []int
	for _, it := range bulk.Items {
		statuses = append(statuses, it["create"].Status)
	}
	if fmt.Sprint(statuses) != "[201 201 409]" {
		return fmt.Errorf("bulk create statuses = %v, want [201 201 409] (the repeated _id rejected)", statuses)
	}
	res, err = es.Count(es.Count.WithIndex(index))
	if err != nil {
		return fmt.Errorf("count: %w", err)
	}
	var count struct {
		Count int `json:"count"`
	}
	if err := decode(res.Body, &count); err != nil {
		return fmt.Errorf("count: %w", err)
	}
	if count.Count != 2 {
		return fmt.Errorf("count = %d, want 2", count.Count)
	}
	return nil
}

func TestKafkaRoundTrip(t *testing.T) {
	broker := Service(t, "ELK_TEST_KAFKA")
	eventually(t, 90*time.Second, func() error { return checkKafka(broker) })
}

func checkKafka(broker string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	topic := uniqueName("servicetest")
	cl, err := kgo.NewClient(kgo.SeedBrokers(broker))
	if err != nil {
		return fmt.Errorf("creating client: %w", err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	created, err := adm.CreateTopic(ctx, -1, -1, nil, topic)
	if err == nil {
		err = created.Err
	}
	if err != nil {
		return fmt.Errorf("creating topic %s: %w", topic, err)
	}
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_, _ = adm.DeleteTopics(ctx, topic)
	}()
	if created.NumPartitions != 4 {
		return fmt.Errorf("default partitions = %d, want 4", created.NumPartitions)
	}
	const n = 20
	for i := 0; i < n; i++ {
		rec := &kgo.Record{Topic: topic, Key: []byte(fmt.Sprint(i % 3)), Value: []byte(fmt.Sprint(i))}
		if err := cl.ProduceSync(ctx, rec).FirstErr(); err != nil {
			return fmt.Errorf("producing: %w", err)
		}
	}
	cons, err := kgo.NewClient(kgo.SeedBrokers(broker), kgo.ConsumeTopics(topic),
		kgo.ConsumerGroup(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		return fmt.Errorf("creating consumer: %w", err)
	}
	defer cons.Close()
	got := 0
	for got < n {
		fs := cons.PollFetches(ctx)
		if err := fs.Err0(); err != nil {
			return fmt.Errorf("consuming after %d records: %w", got, err)
		}
		got += fs.NumRecords()
	}
	if err := cons.CommitUncommittedOffsets(ctx); err != nil {
		return fmt.Errorf("committing offsets: %w", err)
	}
	if got != n {
		return fmt.Errorf("consumed %d records, want %d", got, n)
	}
	return nil
}

func TestPrometheusScrapesFileSDTargets(t *testing.T) {
	prom := Service(t, "ELK_TEST_PROMETHEUS")
	dir := Service(t, "ELK_TEST_PROMETHEUS_TARGETS")

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
		if err := decode(res.Body, &out); err != nil {
			t.Fatalf("querying Prometheus: %v", err)
		}
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

// decode reads a JSON body into v and closes it.
func decode(body io.ReadCloser, v any) error {
	defer body.Close()
	if err := json.NewDecoder(body).Decode(v); err != nil {
		return fmt.Errorf("decoding response: %w", err)
	}
	return nil
}
