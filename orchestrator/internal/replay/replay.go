// Package replay serves HTTP responses recorded from real Nomad and Consul
// agents (a NAME.json body and a NAME.headers file holding the status line
// and headers, as written by curl -D), so the adapters' unit tests talk to
// something that answers like the real API.
package replay

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

// Response is one recorded HTTP response.
type Response struct {
	Status int
	Header http.Header
	Body   []byte
}

// Request is one request the server received.
type Request struct {
	Method, Path string
	Query        url.Values
	Body         []byte
}

// Load reads dir/NAME.json and dir/NAME.headers.
func Load(t testing.TB, dir, name string) Response {
	t.Helper()
	body, err := os.ReadFile(filepath.Join(dir, name+".json"))
	if err != nil {
		t.Fatal(err)
	}
	hf, err := os.Open(filepath.Join(dir, name+".headers"))
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
	if len(f) < 2 {
		t.Fatalf("%s.headers: no status line", name)
	}
	code, err := strconv.Atoi(f[1])
	if err != nil {
		t.Fatalf("%s.headers: status %q: %v", name, f[1], err)
	}
	h, err := r.ReadMIMEHeader()
	if err != nil && err != io.EOF {
		t.Fatal(err)
	}
	return Response{Status: code, Header: http.Header(h), Body: body}
}

// Server serves recorded responses by "METHOD /path" or, when the request
// has that query parameter, "METHOD /path?param". A route with several
// responses serves them in turn and then repeats the last one. Unknown
// routes answer 404, as both agents do for a missing object.
type Server struct {
	t           testing.TB
	dir         string
	indexHeader string
	mu          sync.Mutex
	routes      map[string][]Response
	reqs        []Request
	srv         *httptest.Server
}

// New starts a server replaying fixtures from dir; indexHeader
// ("X-Nomad-Index", "X-Consul-Index") is set on literal JSON responses.
func New(t testing.TB, dir, indexHeader string) *Server {
	s := &Server{t: t, dir: dir, indexHeader: indexHeader, routes: map[string][]Response{}}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.srv.Close)
	return s
}

// URL is the server's base address.
func (s *Server) URL() string { return s.srv.URL }

// On adds recorded responses for a route.
func (s *Server) On(route string, fixtures ...string) *Server {
	for _, f := range fixtures {
		s.add(route, Load(s.t, s.dir, f))
	}
	return s
}

// OnJSON adds a literal JSON 200 response.
func (s *Server) OnJSON(route string, v any) *Server {
	data, err := json.Marshal(v)
	if err != nil {
		s.t.Fatal(err)
	}
	s.add(route, Response{Status: 200, Header: http.Header{"Content-Type": {"application/json"}, s.indexHeader: {"100"}}, Body: data})
	return s
}

// OnStatus adds a plain-text error response.
func (s *Server) OnStatus(route string, code int, body string) *Server {
	s.add(route, Response{Status: code, Header: http.Header{"Content-Type": {"text/plain"}}, Body: []byte(body)})
	return s
}

func (s *Server) add(route string, resp Response) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.routes[route] = append(s.routes[route], resp)
}

func (s *Server) serve(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	s.mu.Lock()
	s.reqs = append(s.reqs, Request{Method: req.Method, Path: req.URL.Path, Query: req.URL.Query(), Body: body})
	route := req.Method + " " + req.URL.Path
	for k := range req.URL.Query() {
		if _, ok := s.routes[route+"?"+k]; ok {
			route += "?" + k
			break
		}
	}
	list := s.routes[route]
	var resp Response
	found := len(list) > 0
	if found {
		resp = list[0]
		if len(list) > 1 {
			s.routes[route] = list[1:]
		}
	}
	s.mu.Unlock()
	if !found {
		http.Error(w, "not found", http.StatusNotFound)
		return
	}
	for k, vs := range resp.Header {
		switch k {
		case "Content-Length", "Transfer-Encoding", "Date":
			continue
		}
		for _, v := range vs {
			w.Header().Add(k, v)
		}
	}
	w.WriteHeader(resp.Status)
	w.Write(resp.Body)
}

// Requests returns the received requests for a route ("METHOD /path" or
// "METHOD /path?param").
func (s *Server) Requests(route string) []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	path, param, _ := strings.Cut(route, "?")
	var out []Request
	for _, q := range s.reqs {
		if q.Method+" "+q.Path != path {
			continue
		}
		if param == "" || q.Query.Has(param) {
			out = append(out, q)
		}
	}
	return out
}

// All returns every request received so far.
func (s *Server) All() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.reqs...)
}
