// Package client is the Go client of the orchestrator server's HTTP API,
// used by elk's command-line interface.
package client

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"

	"github.com/elk-project/elk/orchestrator"
	"github.com/elk-project/elk/orchestrator/api"
	"github.com/elk-project/elk/orchestrator/tenant"
)

// DefaultAddr is used when ELK_ADDR is unset.
const DefaultAddr = "http://127.0.0.1:7878"

// Error is an error answered by the server (see api.Error).
type Error = api.Error

// ErrNotFound is matched (errors.Is) by 404 answers.
var ErrNotFound = api.ErrNotFound

// Client talks to one server.
type Client struct {
	base string
	http *http.Client
}

// New returns a client of the server at addr (DefaultAddr when empty).
// With hc nil it authenticates as ConfigFromEnv says (ELK_TOKEN or the
// local server's token, ELK_CACERT, ELK_CLIENT_CERT, ELK_CLIENT_KEY).
func New(addr string, hc *http.Client) (*Client, error) {
	if addr == "" {
		addr = DefaultAddr
	}
	if !strings.Contains(addr, "://") {
		addr = "http://" + addr
	}
	u, err := url.Parse(addr)
	if err != nil || u.Host == "" {
		return nil, fmt.Errorf("server address %q: want http(s)://host:port", addr)
	}
	if hc == nil {
		tc, err := ConfigFromEnv(addr, os.Getenv)
		if err != nil {
			return nil, err
		}
		if hc, err = tc.HTTPClient(); err != nil {
			return nil, err
		}
	}
	return &Client{base: strings.TrimRight(addr, "/"), http: hc}, nil
}

// Addr is the server's base URL.
func (c *Client) Addr() string { return c.base }

func (c *Client) request(ctx context.Context, method, path string, body io.Reader, hdr map[string]string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, body)
	if err != nil {
		return nil, err
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) && ctx.Err() == nil {
			return nil, fmt.Errorf("cannot reach the elk server at %s (start it with `elk server` or set ELK_ADDR): %w", c.base, ue.Err)
		}
		return nil, err
	}
	if resp.StatusCode >= 300 {
		defer resp.Body.Close()
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		var e api.Error
		if json.Unmarshal(b, &e) == nil && e.Message != "" {
			e.Status = resp.StatusCode
			return nil, &e
		}
		return nil, &Error{Status: resp.StatusCode, Message: fmt.Sprintf("%s %s: %s: %s", method, path, resp.Status, strings.TrimSpace(string(b)))}
	}
	return resp, nil
}

func (c *Client) do(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	hdr := map[string]string{}
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
		hdr["Content-Type"] = "application/json"
	}
	resp, err := c.request(ctx, method, path, body, hdr)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if out == nil {
		return nil
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("decode answer of %s %s: %w", method, path, err)
	}
	return nil
}

// Deploy sends a blueprint. progress, if set, receives the deploy's events
// as they happen.
func (c *Client) Deploy(ctx context.Context, filename string, blueprint []byte, dryRun bool, progress func(orchestrator.Event)) (*orchestrator.Result, error) {
	path := "/v1/apps"
	if dryRun {
		path += "?dry_run=true"
	}
	resp, err := c.request(ctx, http.MethodPost, path, bytes.NewReader(blueprint), map[string]string{
		"Content-Type": "application/yaml", "Accept": "application/x-ndjson", api.FilenameHeader: filename,
	})
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	for sc.Scan() {
		var line api.DeployLine
		if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
			return nil, fmt.Errorf("decode deploy progress: %w", err)
		}
		switch {
		case line.Event != nil:
			if progress != nil {
				progress(*line.Event)
			}
		case line.Error != "":
			return nil, &Error{Status: line.Status, Message: line.Error}
		case line.Result != nil:
			return line.Result, nil
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read deploy progress: %w", err)
	}
	return nil, errors.New("the server closed the deploy stream without a result (the deploy continues on the server; see `elk status`)")
}

// Apps returns the status of every application.
func (c *Client) Apps(ctx context.Context) ([]*orchestrator.AppStatus, error) {
	var out []*orchestrator.AppStatus
	return out, c.do(ctx, http.MethodGet, "/v1/apps", nil, &out)
}

// App returns the status of one application.
func (c *Client) App(ctx context.Context, app string) (*orchestrator.AppStatus, error) {
	var out orchestrator.AppStatus
	if err := c.do(ctx, http.MethodGet, "/v1/apps/"+url.PathEscape(app), nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// Scale sets an entity's desired count.
func (c *Client) Scale(ctx context.Context, app, entity string, count int, reason string) error {
	return c.do(ctx, http.MethodPost, "/v1/apps/"+url.PathEscape(app)+"/entities/"+url.PathEscape(entity)+"/scale",
		api.ScaleRequest{Count: count, Reason: reason}, nil)
}

// Undeploy removes an application and returns the entities removed.
func (c *Client) Undeploy(ctx context.Context, app string) ([]string, error) {
	var out api.UndeployResponse
	err := c.do(ctx, http.MethodDelete, "/v1/apps/"+url.PathEscape(app), nil, &out)
	return out.Removed, err
}

// Healthy checks the server's /healthz.
func (c *Client) Healthy(ctx context.Context) error {
	return c.do(ctx, http.MethodGet, "/healthz", nil, nil)
}

// Tenants lists the tenant records.
func (c *Client) Tenants(ctx context.Context) ([]tenant.Record, error) {
	var out []tenant.Record
	return out, c.do(ctx, http.MethodGet, "/v1/tenants", nil, &out)
}

// Tenant returns one tenant record.
func (c *Client) Tenant(ctx context.Context, name string) (*tenant.Record, error) {
	var out tenant.Record
	if err := c.do(ctx, http.MethodGet, "/v1/tenants/"+url.PathEscape(name), nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// CreateTenant records a new tenant.
func (c *Client) CreateTenant(ctx context.Context, t tenant.Tenant) (*tenant.Record, error) {
	var out tenant.Record
	if err := c.do(ctx, http.MethodPost, "/v1/tenants", t, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// DeleteTenant removes a tenant record.
func (c *Client) DeleteTenant(ctx context.Context, name string) error {
	return c.do(ctx, http.MethodDelete, "/v1/tenants/"+url.PathEscape(name), nil, nil)
}
