package consul

import (
	"bufio"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/textproto"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
)

const fixtures = "testdata/consul-1.16.0-dev"

// response is one recorded HTTP response.
type response struct {
	status int
	header http.Header
	body   []byte
}

// loadFixture reads NAME.json and NAME.headers (status line and headers
// as recorded with curl -D).
func loadFixture(t *testing.T, name string) response {
	t.Helper()
	body, err := os.ReadFile(filepath.Join(fixtures, name+".json"))
	if err != nil {
		t.Fatal(err)
	}
	hf, err := os.Open(filepath.Join(fixtures, name+".headers"))
	if err != nil {
		t.Fatal(err)
	}
	defer hf.Close()
	r := textproto.NewReader(bufio.NewReader(hf))
	line, err := r.ReadLine()
	if err != nil {
		t.Fatal(err)
	}
	f := strings.Fields(line)
	code, _ := strconv.Atoi(f[1])
	h, err := r.ReadMIMEHeader()
	if err != nil && err != io.EOF {
		t.Fatal(err)
	}
	return response{status: code, header: http.Header(h), body: body}
}

// request is one request the replay server received.
type request struct {
	Method, Path string
	Query        url.Values
	Body         []byte
}

// replay serves recorded responses by "METHOD /path" or, when the request
// has that query parameter, "METHOD /path?param"; a route with several
// responses serves them in turn and then repeats the last one. Unknown
// routes answer 404 like Nomad does for a missing object.
type replay struct {
	t      *testing.T
	mu     sync.Mutex
	routes map[string][]response
	reqs   []request
	srv    *httptest.Server
}

func newReplay(t *testing.T) *replay {
	r := &replay{t: t, routes: map[string][]response{}}
	r.srv = httptest.NewServer(http.HandlerFunc(r.serve))
	t.Cleanup(r.srv.Close)
	return r
}

// on adds recorded responses for a route.
func (r *replay) on(route string, fixtures ...string) *replay {
	for _, f := range fixtures {
		r.add(route, loadFixture(r.t, f))
	}
	return r
}

// onJSON adds a literal JSON 200 response.
func (r *replay) onJSON(route string, v any) *replay {
	data, err := json.Marshal(v)
	if err != nil {
		r.t.Fatal(err)
	}
	r.add(route, response{status: 200, header: http.Header{"Content-Type": {"application/json"}, "X-Consul-Index": {"100"}}, body: data})
	return r
}

func (r *replay) add(route string, resp response) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.routes[route] = append(r.routes[route], resp)
}

func (r *replay) serve(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	r.mu.Lock()
	r.reqs = append(r.reqs, request{Method: req.Method, Path: req.URL.Path, Query: req.URL.Query(), Body: body})
	route := req.Method + " " + req.URL.Path
	for k := range req.URL.Query() {
		if _, ok := r.routes[route+"?"+k]; ok {
			route += "?" + k
			break
		}
	}
	list := r.routes[route]
	var resp response
	found := len(list) > 0
	if found {
		resp = list[0]
		if len(list) > 1 {
			r.routes[route] = list[1:]
		}
	}
	r.mu.Unlock()
	if !found {
		http.Error(w, "not found", http.StatusNotFound)
		return
	}
	for k, vs := range resp.header {
		switch k {
		case "Content-Length", "Transfer-Encoding", "Date":
			continue
		}
		for _, v := range vs {
			w.Header().Add(k, v)
		}
	}
	w.WriteHeader(resp.status)
	w.Write(resp.body)
}

// requests returns the received requests for a route.
func (r *replay) requests(route string) []request {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []request
	for _, q := range r.reqs {
		if q.Method+" "+q.Path == route || strings.HasPrefix(route, q.Method+" "+q.Path+"?") && q.Query.Has(route[strings.Index(route, "?")+1:]) {
			out = append(out, q)
		}
	}
	return out
}

func readFile(path string) ([]byte, error) { return os.ReadFile(path) }

// onStatus adds a plain-text error response.
func (r *replay) onStatus(route string, code int, body string) *replay {
	r.add(route, response{status: code, header: http.Header{"Content-Type": {"text/plain"}}, body: []byte(body)})
	return r
}

func jsonOf(v any) string { b, _ := json.Marshal(v); return string(b) }
