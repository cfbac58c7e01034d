package elasticsearch

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

// fakeES answers the subset of the Elasticsearch API the sink uses, the way
// Elasticsearch 7.17 does (X-Elastic-Product header, bulk item statuses,
// 409 on create of an existing _id). Tests switch it down, make it reject
// items with 429, or stall bulk requests.
type fakeES struct {
	t   *testing.T
	srv *httptest.Server

	mu         sync.Mutex
	docs       map[string]map[string][]byte // index -> id -> body
	order      []string                     // ids in indexing order
	templates  map[string][]byte
	down       bool // hijack and close connections
	reject429  int  // reject this many further items with 429
	reject400  int  // reject this many further items with 400 (a mapping error: not retried)
	bulkCalls  int
	downAfter  int           // when > 0, go down after this many more bulk requests
	stall      chan struct{} // when non-nil, bulk requests wait for it
	noProduct  bool          // behave like OpenSearch (no product header)
	legacyOnly bool          // no _index_template API (before 7.8)
}

func newFakeES(t *testing.T) *fakeES {
	f := &fakeES{t: t, docs: map[string]map[string][]byte{}, templates: map[string][]byte{}}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeES) set(fn func(f *fakeES)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn(f)
}

func (f *fakeES) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, m := range f.docs {
		n += len(m)
	}
	return n
}

func (f *fakeES) serve(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	down, stall, noProduct, legacyOnly := f.down, f.stall, f.noProduct, f.legacyOnly
	f.mu.Unlock()
	_ = legacyOnly
	if down {
		hj, ok := w.(http.Hijacker)
		if !ok {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		conn, _, _ := hj.Hijack()
		conn.Close()
		return
	}
	if !noProduct {
		w.Header().Set("X-Elastic-Product", "Elasticsearch")
	}
	w.Header().Set("Content-Type", "application/json")
	switch {
	case r.Method == http.MethodGet && r.URL.Path == "/":
		fmt.Fprint(w, `{"name":"fake","cluster_name":"fake","version":{"number":"7.17.29"},"tagline":"You Know, for Search"}`)
	case r.Method == http.MethodPut && strings.HasPrefix(r.URL.Path, "/_index_template/") && f.legacyOnly:
		http.Error(w, `{"error":"no handler found"}`, http.StatusBadRequest)
	case r.Method == http.MethodPut && (strings.HasPrefix(r.URL.Path, "/_template/") || strings.HasPrefix(r.URL.Path, "/_index_template/")):
		body, _ := io.ReadAll(r.Body)
		if !json.Valid(body) {
			http.Error(w, `{"error":"bad json"}`, http.StatusBadRequest)
			return
		}
		f.set(func(f *fakeES) { f.templates[strings.TrimPrefix(r.URL.Path, "/")] = body })
		fmt.Fprint(w, `{"acknowledged":true}`)
	case r.URL.Path == "/_bulk":
		if stall != nil {
			<-stall
		}
		f.bulk(w, r)
		f.set(func(f *fakeES) {
			if f.downAfter > 0 {
				if f.downAfter--; f.downAfter == 0 {
					f.down = true
				}
			}
		})
	default:
		http.Error(w, `{"error":"not found"}`, http.StatusNotFound)
	}
}

func (f *fakeES) bulk(w http.ResponseWriter, r *http.Request) {
	sc := bufio.NewScanner(r.Body)
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	var items []string
	f.mu.Lock()
	f.bulkCalls++
	for sc.Scan() {
		var meta map[string]struct {
			Index string `json:"_index"`
			ID    string `json:"_id"`
		}
		if err := json.Unmarshal(sc.Bytes(), &meta); err != nil {
			f.mu.Unlock()
			http.Error(w, `{"error":"bad meta"}`, http.StatusBadRequest)
			return
		}
		if !sc.Scan() {
			break
		}
		body := bytes.Clone(sc.Bytes())
		m, ok := meta["create"]
		if !ok {
			f.t.Errorf("bulk action is not create: %v", meta)
			continue
		}
		switch {
		case f.reject400 > 0:
			f.reject400--
			items = append(items, `{"create":{"status":400,"error":{"type":"mapper_parsing_exception","reason":"failed to parse"}}}`)
		case f.reject429 > 0:
			f.reject429--
			items = append(items, `{"create":{"status":429,"error":{"type":"es_rejected_execution_exception","reason":"queue full"}}}`)
		case f.docs[m.Index][m.ID] != nil:
			items = append(items, `{"create":{"status":409,"error":{"type":"version_conflict_engine_exception","reason":"exists"}}}`)
		default:
			if f.docs[m.Index] == nil {
				f.docs[m.Index] = map[string][]byte{}
			}
			f.docs[m.Index][m.ID] = body
			f.order = append(f.order, m.ID)
			items = append(items, `{"create":{"status":201}}`)
		}
	}
	f.mu.Unlock()
	fmt.Fprintf(w, `{"took":1,"errors":true,"items":[%s]}`, strings.Join(items, ","))
}
