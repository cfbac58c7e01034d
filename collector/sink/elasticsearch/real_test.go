package elasticsearch

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/elk-project/elk/deploy/dev/servicetest"
)

// TestRealCluster runs the sink against the cluster at ELK_TEST_ES.
func TestRealCluster(t *testing.T) {
	testRealCluster(t, servicetest.Service(t, "ELK_TEST_ES"))
}

// TestRealOpenSearch runs the same against the optional OpenSearch node at
// ELK_TEST_OPENSEARCH (deploy/dev/services up opensearch), which sends no
// X-Elastic-Product header.
func TestRealOpenSearch(t *testing.T) {
	url := os.Getenv("ELK_TEST_OPENSEARCH")
	if url == "" {
		t.Skip("ELK_TEST_OPENSEARCH unset: skipping the OpenSearch test (deploy/dev/services up opensearch)")
	}
	testRealCluster(t, url)
}

func testRealCluster(t *testing.T, url string) {
	prefix := fmt.Sprintf("sflowunit%d", time.Now().UnixNano()%1e6)
	s, _ := newTestSink(t, url, func(c *Config) { c.IndexPrefix = prefix })
	t.Cleanup(func() {
		req, _ := http.NewRequest(http.MethodDelete, url+"/"+prefix+"-*", nil)
		if res, err := http.DefaultClient.Do(req); err == nil {
			res.Body.Close()
		}
		for _, api := range []string{"/_template/", "/_index_template/"} {
			req, _ = http.NewRequest(http.MethodDelete, url+api+prefix, nil)
			if res, err := http.DefaultClient.Do(req); err == nil {
				res.Body.Close()
			}
		}
	})
	ctx := context.Background()
	for round := 0; round < 2; round++ { // the second round is all duplicates
		if err := s.Write(ctx, testDocs(500, "")); err != nil {
			t.Fatal(err)
		}
		flush(t, s, 30*time.Second)
	}
	res, err := http.Post(url+"/"+prefix+"-*/_refresh", "application/json", nil)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	res, err = http.Get(url + "/" + prefix + "-flow-default-2026.11.27/_count")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if !strings.Contains(string(body), `"count":500`) {
		t.Fatalf("count = %s, want 500", body)
	}
	res, err = http.Get(url + "/" + prefix + "-flow-default-2026.11.27/_mapping/field/network.bytes,source.ip")
	if err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(res.Body)
	res.Body.Close()
	if !strings.Contains(string(body), `"type":"long"`) {
		t.Errorf("network.bytes mapping = %s, want long from the template", body)
	}
	// The NAT and tunnel fields get their template types (ip, long), so a
	// tunnel endpoint can be searched by CIDR.
	tun := testDocs(1, "tun")
	tun[0].Body = []byte(`{"@timestamp":"2026-11-27T10:00:00Z","source":{"ip":"10.0.0.5","nat":{"ip":"198.51.100.1","port":61000}},` +
		`"sflow":{"tunnel":{"egress":{"vni":5001,"ip":{"src":"192.0.2.10","dst":"192.0.2.20","dst_port":4789}}}}}`)
	if err := s.Write(ctx, tun); err != nil {
		t.Fatal(err)
	}
	flush(t, s, 30*time.Second)
	tunIndex := url + "/" + prefix + "-flow-tun-2026.11.27"
	res, err = http.Get(tunIndex + "/_mapping/field/sflow.tunnel.egress.ip.src,sflow.tunnel.egress.vni,source.nat.ip")
	if err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(res.Body)
	res.Body.Close()
	if strings.Count(string(body), `"type":"ip"`) != 2 || !strings.Contains(string(body), `"type":"long"`) {
		t.Errorf("tunnel and NAT mappings = %s, want ip, ip and long", body)
	}
	if res, err := http.Post(tunIndex+"/_refresh", "application/json", nil); err == nil {
		res.Body.Close()
	}
	res, err = http.Post(tunIndex+"/_count", "application/json",
		strings.NewReader(`{"query":{"term":{"sflow.tunnel.egress.ip.src":"192.0.2.0/24"}}}`))
	if err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(res.Body)
	res.Body.Close()
	if !strings.Contains(string(body), `"count":1`) {
		t.Errorf("CIDR query on the tunnel source: %s, want count 1", body)
	}
	res, err = http.Get(url + "/_cluster/health/" + prefix + "-*")
	if err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(res.Body)
	res.Body.Close()
	if !strings.Contains(string(body), `"status":"green"`) {
		t.Errorf("health of the sink's indices = %s, want green (replicas auto-expand to 0 on one node)", body)
	}
}
