// Package client talks to the policy API of an elk server (served by
// policies/engine's Handler).
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	oclient "github.com/elk-project/elk/orchestrator/client"
	"github.com/elk-project/elk/policies"
	"github.com/elk-project/elk/policies/engine"
)

// Client calls the policy API at Addr (e.g. http://127.0.0.1:7878).
type Client struct {
	Addr string
	// Author is not sent: the server records the identity of the token
	// as the author of a change.
	Author string
	HTTP   *http.Client
	err    error // from building the transport, returned by every call
}

// New returns a client for addr that authenticates as
// orchestrator/client.ConfigFromEnv says (ELK_TOKEN or the local server's
// token, ELK_CACERT, ELK_CLIENT_CERT, ELK_CLIENT_KEY).
func New(addr, author string) *Client {
	c := &Client{Addr: strings.TrimRight(addr, "/"), Author: author, HTTP: &http.Client{Timeout: 30 * time.Second}}
	tc, err := oclient.ConfigFromEnv(c.Addr, os.Getenv)
	if err == nil {
		var hc *http.Client
		if hc, err = tc.HTTPClient(); err == nil {
			hc.Timeout = c.HTTP.Timeout
			c.HTTP = hc
		}
	}
	c.err = err
	return c
}

// APIError is an error answered by the server.
type APIError struct {
	Status  int
	Message string
}

func (e *APIError) Error() string { return e.Message }

func (c *Client) do(ctx context.Context, method, path string, body io.Reader, ctype string, out any) error {
	if c.err != nil {
		return fmt.Errorf("policy API %s %s: %w", method, path, c.err)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.Addr+path, body)
	if err != nil {
		return err
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return fmt.Errorf("policy API %s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 32<<20))
	if err != nil {
		return fmt.Errorf("policy API %s %s: %w", method, path, err)
	}
	if resp.StatusCode >= 300 {
		var e struct {
			Error string `json:"error"`
		}
		if json.Unmarshal(data, &e) == nil && e.Error != "" {
			return &APIError{Status: resp.StatusCode, Message: e.Error}
		}
		return &APIError{Status: resp.StatusCode, Message: fmt.Sprintf("%s %s: %s", method, path, resp.Status)}
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			return fmt.Errorf("policy API %s %s: decode answer: %w", method, path, err)
		}
	}
	return nil
}

func (c *Client) post(ctx context.Context, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	return c.do(ctx, http.MethodPost, path, body, "application/json", out)
}

func p(key string) (string, error) {
	app, entity, ok := strings.Cut(key, "/")
	if !ok || app == "" || entity == "" || strings.Contains(entity, "/") {
		return "", fmt.Errorf("%q: name a policy as APP/ENTITY", key)
	}
	return "/v1/policies/" + url.PathEscape(app) + "/" + url.PathEscape(entity), nil
}

// List returns every policy's status.
func (c *Client) List(ctx context.Context) ([]engine.Status, error) {
	var out []engine.Status
	return out, c.do(ctx, http.MethodGet, "/v1/policies", nil, "", &out)
}

// Show returns one policy's status and YAML; key is APP/ENTITY.
func (c *Client) Show(ctx context.Context, key string) (engine.Status, error) {
	var out engine.Status
	path, err := p(key)
	if err != nil {
		return out, err
	}
	return out, c.do(ctx, http.MethodGet, path, nil, "", &out)
}

// Validate asks the server to validate a policy document.
func (c *Client) Validate(ctx context.Context, filename string, doc []byte) (engine.ValidateResponse, error) {
	var out engine.ValidateResponse
	return out, c.do(ctx, http.MethodPost, "/v1/policies/validate?filename="+url.QueryEscape(filename), bytes.NewReader(doc), "application/yaml", &out)
}

// Replace stores a whole policy document.
func (c *Client) Replace(ctx context.Context, key string, doc []byte) (engine.Version, error) {
	var out engine.Version
	path, err := p(key)
	if err != nil {
		return out, err
	}
	return out, c.do(ctx, http.MethodPut, path, bytes.NewReader(doc), "application/yaml", &out)
}

// Set changes fields (KEY=VALUE).
func (c *Client) Set(ctx context.Context, key string, assignments []string) (engine.Version, error) {
	var out engine.Version
	path, err := p(key)
	if err != nil {
		return out, err
	}
	return out, c.post(ctx, path+"/set", engine.SetRequest{Assignments: assignments}, &out)
}

// Pause stops a policy from acting.
func (c *Client) Pause(ctx context.Context, key string) (engine.Status, error) {
	return c.op(ctx, key, "/pause", nil)
}

// Resume lets a paused policy act again.
func (c *Client) Resume(ctx context.Context, key string) (engine.Status, error) {
	return c.op(ctx, key, "/resume", nil)
}

// Pin holds the count at n for d.
func (c *Client) Pin(ctx context.Context, key string, n int, d time.Duration) (engine.Status, error) {
	return c.op(ctx, key, "/pin", engine.PinRequest{Count: n, For: d.String()})
}

// Unpin removes a pin.
func (c *Client) Unpin(ctx context.Context, key string) (engine.Status, error) {
	var out engine.Status
	path, err := p(key)
	if err != nil {
		return out, err
	}
	return out, c.do(ctx, http.MethodDelete, path+"/pin", nil, "", &out)
}

func (c *Client) op(ctx context.Context, key, suffix string, in any) (engine.Status, error) {
	var out engine.Status
	path, err := p(key)
	if err != nil {
		return out, err
	}
	return out, c.post(ctx, path+suffix, in, &out)
}

// History returns a policy's versions, oldest first.
func (c *Client) History(ctx context.Context, key string) ([]engine.Version, error) {
	var out []engine.Version
	path, err := p(key)
	if err != nil {
		return nil, err
	}
	return out, c.do(ctx, http.MethodGet, path+"/history", nil, "", &out)
}

// Explain returns the last n decisions, oldest first.
func (c *Client) Explain(ctx context.Context, key string, n int) ([]policies.Decision, error) {
	var out []policies.Decision
	path, err := p(key)
	if err != nil {
		return nil, err
	}
	return out, c.do(ctx, http.MethodGet, path+"/explain?last="+strconv.Itoa(n), nil, "", &out)
}

// IsNotFound reports whether err is the server's 404.
func IsNotFound(err error) bool {
	var e *APIError
	return errors.As(err, &e) && e.Status == http.StatusNotFound
}
