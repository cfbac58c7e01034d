package embedded

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/elk-project/elk/orchestrator/discovery"
)

// IndexHeader carries the registry's change index on registry responses;
// a GET with ?index=N blocks until the index passes N (long poll).
const IndexHeader = "X-Elk-Index"

// MaxWait bounds a long poll.
const MaxWait = 5 * time.Minute

// Handler serves the registry under /v1/registry/:
//
//	PUT    /v1/registry/services         register (body: discovery.Service)
//	DELETE /v1/registry/services/{id}    deregister
//	GET    /v1/registry/services         every registration, healthy or not
//	GET    /v1/registry/services/{name}  healthy instances; ?index=N&wait=30s long-polls
func (r *Registry) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("PUT /v1/registry/services", func(w http.ResponseWriter, req *http.Request) {
		var s discovery.Service
		if err := json.NewDecoder(http.MaxBytesReader(w, req.Body, 64<<10)).Decode(&s); err != nil {
			code := http.StatusBadRequest
			var tooLarge *http.MaxBytesError
			if errors.As(err, &tooLarge) {
				code = http.StatusRequestEntityTooLarge
			}
			httpError(w, code, fmt.Errorf("decode service: %w", err))
			return
		}
		if err := r.Register(req.Context(), s); err != nil {
			httpError(w, http.StatusBadRequest, err)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("DELETE /v1/registry/services/{id}", func(w http.ResponseWriter, req *http.Request) {
		_ = r.Deregister(req.Context(), req.PathValue("id"))
		w.WriteHeader(http.StatusNoContent)
	})
	list := func(w http.ResponseWriter, req *http.Request, name string, all bool) {
		q := req.URL.Query()
		var ss []discovery.Service
		var idx uint64
		if q.Get("index") != "" {
			index, err := strconv.ParseUint(q.Get("index"), 10, 64)
			if err != nil {
				httpError(w, http.StatusBadRequest, fmt.Errorf("index: %w", err))
				return
			}
			wait := 30 * time.Second
			if q.Get("wait") != "" {
				if wait, err = time.ParseDuration(q.Get("wait")); err != nil {
					httpError(w, http.StatusBadRequest, fmt.Errorf("wait: %w", err))
					return
				}
			}
			ss, idx = r.wait(req.Context(), name, index, min(wait, MaxWait), all)
		} else {
			ss, idx, _ = r.snapshot(name, all)
		}
		w.Header().Set(IndexHeader, strconv.FormatUint(idx, 10))
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(ss)
	}
	mux.HandleFunc("GET /v1/registry/services", func(w http.ResponseWriter, req *http.Request) {
		list(w, req, "", true)
	})
	mux.HandleFunc("GET /v1/registry/services/{name}", func(w http.ResponseWriter, req *http.Request) {
		list(w, req, req.PathValue("name"), false)
	})
	return mux
}

func httpError(w http.ResponseWriter, code int, err error) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": err.Error()})
}

// Client is a discovery.Registry speaking to a registry served by Handler,
// e.g. at the address a child process finds in ELK_REGISTRY.
type Client struct {
	base  string
	http  *http.Client
	retry time.Duration
}

var _ discovery.Registry = (*Client)(nil)

// NewClient returns a client of the registry at base (http://host:port).
// hc may be nil.
func NewClient(base string, hc *http.Client) (*Client, error) {
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("registry address %q: want http://host:port", base)
	}
	if hc == nil {
		hc = &http.Client{}
	}
	return &Client{base: strings.TrimRight(base, "/"), http: hc, retry: time.Second}, nil
}

func (c *Client) do(ctx context.Context, method, path string, body any, out any) (http.Header, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 300 {
		var e struct{ Error string }
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		if json.Unmarshal(b, &e) == nil && e.Error != "" {
			return nil, fmt.Errorf("registry: %s", e.Error)
		}
		return nil, fmt.Errorf("registry: %s: %s", resp.Status, strings.TrimSpace(string(b)))
	}
	if out != nil {
		if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
			return nil, fmt.Errorf("registry: decode response: %w", err)
		}
	}
	return resp.Header, nil
}

// Register registers s with the remote registry.
func (c *Client) Register(ctx context.Context, s discovery.Service) error {
	if _, err := c.do(ctx, http.MethodPut, "/v1/registry/services", s, nil); err != nil {
		return fmt.Errorf("register %q: %w", s.ID, err)
	}
	return nil
}

// Deregister removes the registration id.
func (c *Client) Deregister(ctx context.Context, id string) error {
	if _, err := c.do(ctx, http.MethodDelete, "/v1/registry/services/"+url.PathEscape(id), nil, nil); err != nil {
		return fmt.Errorf("deregister %q: %w", id, err)
	}
	return nil
}

// Resolve returns the healthy instances of name.
func (c *Client) Resolve(ctx context.Context, name string) ([]discovery.Service, error) {
	var ss []discovery.Service
	if _, err := c.do(ctx, http.MethodGet, "/v1/registry/services/"+url.PathEscape(name), nil, &ss); err != nil {
		return nil, fmt.Errorf("resolve %q: %w", name, err)
	}
	if ss == nil {
		ss = []discovery.Service{}
	}
	return ss, nil
}

// Watch long-polls the registry and calls fn with the healthy instances of
// name now and after every change; it retries through outages.
func (c *Client) Watch(ctx context.Context, name string, fn func([]discovery.Service)) error {
	var index uint64
	var last []discovery.Service
	first := true
	for {
		var ss []discovery.Service
		path := fmt.Sprintf("/v1/registry/services/%s?index=%d&wait=30s", url.PathEscape(name), index)
		h, err := c.do(ctx, http.MethodGet, path, nil, &ss)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if err != nil {
			index = 0
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(c.retry):
			}
			continue
		}
		if ss == nil {
			ss = []discovery.Service{}
		}
		if n, err := strconv.ParseUint(h.Get(IndexHeader), 10, 64); err == nil {
			if n < index {
				n = 0 // the registry restarted: start over
			}
			index = n
		}
		if first || !sameServices(last, ss) {
			fn(ss)
			last, first = ss, false
		}
	}
}
