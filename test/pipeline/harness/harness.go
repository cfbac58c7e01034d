// Package harness runs elk's flow pipeline for tests and benchmarks: it
// starts the elk binary's collector, agent and ingest processes, cuts and
// restores connections with a TCP proxy, and asks Elasticsearch what
// arrived (counts, Σ network.bytes, arrival histograms).
package harness

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"
)

// ES is a minimal Elasticsearch HTTP client for checking results.
type ES struct {
	URL  string
	HTTP *http.Client
}

// NewES returns a client for url.
func NewES(url string) *ES {
	return &ES{URL: strings.TrimRight(url, "/"), HTTP: &http.Client{Timeout: 30 * time.Second}}
}

func (e *ES) do(ctx context.Context, method, path string, body any, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, e.URL+path, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	res, err := e.HTTP.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	data, err := io.ReadAll(res.Body)
	if err != nil {
		return err
	}
	if res.StatusCode >= 300 {
		return fmt.Errorf("%s %s: %s: %.300s", method, path, res.Status, data)
	}
	if out != nil {
		return json.Unmarshal(data, out)
	}
	return nil
}

// Refresh makes everything indexed in pattern searchable.
func (e *ES) Refresh(ctx context.Context, pattern string) error {
	return e.do(ctx, http.MethodPost, "/"+pattern+"/_refresh?allow_no_indices=true&ignore_unavailable=true", nil, nil)
}

// Count returns the documents in pattern (0 when no index matches).
func (e *ES) Count(ctx context.Context, pattern string) (int64, error) {
	var out struct {
		Count int64 `json:"count"`
	}
	err := e.do(ctx, http.MethodGet, "/"+pattern+"/_count?allow_no_indices=true&ignore_unavailable=true", nil, &out)
	return out.Count, err
}

// Sum returns the sum of a numeric field over pattern.
func (e *ES) Sum(ctx context.Context, pattern, field string) (float64, error) {
	var out struct {
		Aggs struct {
			S struct {
				Value float64 `json:"value"`
			} `json:"s"`
		} `json:"aggregations"`
	}
	q := map[string]any{"size": 0, "track_total_hits": true, "aggs": map[string]any{"s": map[string]any{"sum": map[string]any{"field": field}}}}
	err := e.do(ctx, http.MethodPost, "/"+pattern+"/_search?allow_no_indices=true&ignore_unavailable=true", q, &out)
	return out.Aggs.S.Value, err
}

// CreatedRange returns the earliest and latest event.created in pattern.
func (e *ES) CreatedRange(ctx context.Context, pattern string) (first, last time.Time, err error) {
	var out struct {
		Aggs struct {
			Min struct {
				Value float64 `json:"value"`
			} `json:"min"`
			Max struct {
				Value float64 `json:"value"`
			} `json:"max"`
		} `json:"aggregations"`
	}
	q := map[string]any{"size": 0, "aggs": map[string]any{
		"min": map[string]any{"min": map[string]any{"field": "event.created"}},
		"max": map[string]any{"max": map[string]any{"field": "event.created"}},
	}}
	if err := e.do(ctx, http.MethodPost, "/"+pattern+"/_search?allow_no_indices=true&ignore_unavailable=true", q, &out); err != nil {
		return first, last, err
	}
	return time.UnixMilli(int64(out.Aggs.Min.Value)), time.UnixMilli(int64(out.Aggs.Max.Value)), nil
}

// Hit is one document read back.
type Hit struct {
	Index  string          `json:"_index"`
	ID     string          `json:"_id"`
	Source json.RawMessage `json:"_source"`
}

// Scroll reads the documents of pattern, at most limit (0: all).
func (e *ES) Scroll(ctx context.Context, pattern string, limit int, fn func(Hit)) error {
	var page struct {
		ScrollID string `json:"_scroll_id"`
		Hits     struct {
			Hits []Hit `json:"hits"`
		} `json:"hits"`
	}
	if err := e.do(ctx, http.MethodPost, "/"+pattern+"/_search?scroll=1m", map[string]any{"size": 5000, "sort": []string{"_doc"}}, &page); err != nil {
		return err
	}
	seen := 0
	for len(page.Hits.Hits) > 0 && (limit == 0 || seen < limit) {
		for _, h := range page.Hits.Hits {
			if limit > 0 && seen >= limit {
				break
			}
			fn(h)
			seen++
		}
		id := page.ScrollID
		page.Hits.Hits = nil
		if err := e.do(ctx, http.MethodPost, "/_search/scroll", map[string]any{"scroll": "1m", "scroll_id": id}, &page); err != nil {
			return err
		}
	}
	return e.do(ctx, http.MethodDelete, "/_search/scroll", map[string]any{"scroll_id": page.ScrollID}, nil)
}

// Delete removes the indices of pattern and the template named prefix.
func (e *ES) Delete(ctx context.Context, prefix string) error {
	err1 := e.do(ctx, http.MethodDelete, "/"+prefix+"-*?allow_no_indices=true&ignore_unavailable=true&expand_wildcards=all", nil, nil)
	errs := []error{err1}
	for _, api := range []string{"/_index_template/", "/_template/"} {
		if err := e.do(ctx, http.MethodDelete, api+prefix, nil, nil); err != nil && !strings.Contains(err.Error(), "404") {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// WaitCount polls until pattern holds want documents or ctx ends, and
// returns the last count.
func (e *ES) WaitCount(ctx context.Context, pattern string, want int64) (int64, error) {
	var n int64
	for {
		_ = e.Refresh(ctx, pattern)
		c, err := e.Count(ctx, pattern)
		if err == nil {
			n = c
			if n >= want {
				return n, nil
			}
		}
		select {
		case <-ctx.Done():
			return n, ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// Truth is the part of the agent's truth file the pipeline checks.
type Truth struct {
	FlowSamples uint64 `json:"flow_samples"`
	Bytes       uint64 `json:"bytes"`
	Packets     uint64 `json:"packets"`
	Interrupted bool   `json:"interrupted"`
}

// ReadTruth reads an agent truth file.
func ReadTruth(path string) (Truth, error) {
	var t Truth
	data, err := os.ReadFile(path)
	if err != nil {
		return t, err
	}
	return t, json.Unmarshal(data, &t)
}

// Proc is an elk subprocess with its output in a log file.
type Proc struct {
	Name string
	Cmd  *exec.Cmd
	Log  string
	done chan struct{}
	err  error
}

// Start runs bin with args, output to logPath.
func Start(name, bin, logPath string, args ...string) (*Proc, error) {
	f, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		f.Close()
		return nil, fmt.Errorf("starting %s: %w", name, err)
	}
	p := &Proc{Name: name, Cmd: cmd, Log: logPath, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		f.Close()
		close(p.done)
	}()
	return p, nil
}

// Wait waits for the process to exit or ctx to end.
func (p *Proc) Wait(ctx context.Context) error {
	select {
	case <-p.done:
		return p.err
	case <-ctx.Done():
		return fmt.Errorf("%s still running: %w", p.Name, ctx.Err())
	}
}

// Exited reports whether the process has exited.
func (p *Proc) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Stop sends SIGTERM and waits up to grace, then SIGKILLs.
func (p *Proc) Stop(grace time.Duration) error {
	if p.Exited() {
		return p.err
	}
	_ = p.Cmd.Process.Signal(syscall.SIGTERM)
	ctx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	if err := p.Wait(ctx); err == nil || p.Exited() {
		return p.err
	}
	p.Kill()
	return fmt.Errorf("%s did not stop within %s", p.Name, grace)
}

// Kill sends SIGKILL and waits.
func (p *Proc) Kill() {
	if p.Exited() {
		return
	}
	_ = p.Cmd.Process.Kill()
	<-p.done
}

// CPU is the user+system CPU time of the exited process.
func (p *Proc) CPU() time.Duration {
	if !p.Exited() || p.Cmd.ProcessState == nil {
		return 0
	}
	return p.Cmd.ProcessState.UserTime() + p.Cmd.ProcessState.SystemTime()
}

// Tail returns the last n bytes of the process log.
func (p *Proc) Tail(n int) string {
	data, _ := os.ReadFile(p.Log)
	if len(data) > n {
		data = data[len(data)-n:]
	}
	return string(data)
}

// FreeUDPPort returns a free UDP port on 127.0.0.1.
func FreeUDPPort() (int, error) {
	c, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).Port, nil
}

// Proxy forwards TCP connections to a target; Cut drops every connection and
// refuses new ones until Restore, like a stopped server.
type Proxy struct {
	target string
	ln     net.Listener

	mu    sync.Mutex
	cut   bool
	conns map[net.Conn]struct{}
}

// NewProxy listens on 127.0.0.1 and forwards to target.
func NewProxy(target string) (*Proxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &Proxy{target: target, ln: ln, conns: map[net.Conn]struct{}{}}
	go p.accept()
	return p, nil
}

// Addr is the proxy's HOST:PORT.
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

func (p *Proxy) accept() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		if p.cut {
			p.mu.Unlock()
			c.Close()
			continue
		}
		p.mu.Unlock()
		go p.forward(c)
	}
}

func (p *Proxy) forward(c net.Conn) {
	up, err := net.DialTimeout("tcp", p.target, 5*time.Second)
	if err != nil {
		c.Close()
		return
	}
	p.mu.Lock()
	if p.cut {
		p.mu.Unlock()
		c.Close()
		up.Close()
		return
	}
	p.conns[c], p.conns[up] = struct{}{}, struct{}{}
	p.mu.Unlock()
	done := make(chan struct{}, 2)
	go func() { _, _ = io.Copy(up, c); done <- struct{}{} }()
	go func() { _, _ = io.Copy(c, up); done <- struct{}{} }()
	<-done
	c.Close()
	up.Close()
	p.mu.Lock()
	delete(p.conns, c)
	delete(p.conns, up)
	p.mu.Unlock()
}

// Cut closes every open connection and refuses new ones.
func (p *Proxy) Cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cut = true
	for c := range p.conns {
		c.Close()
	}
}

// Restore accepts connections again.
func (p *Proxy) Restore() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cut = false
}

// Close stops the proxy.
func (p *Proxy) Close() error {
	p.Cut()
	return p.ln.Close()
}
