package elasticsearch

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	es "github.com/elastic/go-elasticsearch/v8"
)

// productTransport marks successful responses of engines that do not send
// X-Elastic-Product (OpenSearch, Elasticsearch before 7.14) as Elasticsearch,
// so the client's product check accepts them: elk only uses the bulk, index
// template, count and nodes APIs, which these engines share.
//
// It also times bulk requests for the sink's bulk duration metric.
//
// Requests end early once abort is done (the sink is closing and gave up
// waiting for the cluster): their documents fail and are spooled.
type productTransport struct {
	next        http.RoundTripper
	observeBulk func(d time.Duration, bytes int64)
	abort       context.Context
}

// errAborted ends requests in flight when a closing sink stops waiting.
var errAborted = errors.New("elasticsearch sink closing: request abandoned, its documents are spooled")

func (t productTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if t.abort != nil {
		if t.abort.Err() != nil {
			return nil, errAborted
		}
		ctx, cancel := context.WithCancelCause(req.Context())
		stop := context.AfterFunc(t.abort, func() { cancel(errAborted) })
		res, err := t.roundTrip(req.WithContext(ctx))
		if err != nil || res.Body == nil {
			stop()
			cancel(nil)
			return res, err
		}
		res.Body = &releasingBody{ReadCloser: res.Body, release: func() { stop(); cancel(nil) }}
		return res, nil
	}
	return t.roundTrip(req)
}

// releasingBody releases a request's abort hook when its body is closed.
type releasingBody struct {
	io.ReadCloser
	release func()
}

func (b *releasingBody) Close() error {
	err := b.ReadCloser.Close()
	b.release()
	return err
}

func (t productTransport) roundTrip(req *http.Request) (*http.Response, error) {
	start := time.Now()
	res, err := t.next.RoundTrip(req)
	if t.observeBulk != nil && strings.HasSuffix(req.URL.Path, "/_bulk") {
		t.observeBulk(time.Since(start), req.ContentLength)
	}
	if err == nil && res.Header.Get("X-Elastic-Product") == "" {
		res.Header.Set("X-Elastic-Product", "Elasticsearch")
	}
	return res, err
}

// NewClient builds a go-elasticsearch client from the config: TLS with the
// CA file, basic or API-key authentication, bounded timeouts and transport
// retries with backoff on 429/502/503/504 and connection errors. It works
// against Elasticsearch 7, 8, 9 and OpenSearch 2.
func NewClient(cfg Config) (*es.Client, error) {
	return newClient(cfg, nil, nil)
}

func newClient(cfg Config, observeBulk func(time.Duration, int64), abort context.Context) (*es.Client, error) {
	cfg.extractCredentials()
	if cfg.RequestTimeout <= 0 {
		cfg.RequestTimeout = 60 * time.Second
	}
	tlsCfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if cfg.CAFile != "" {
		pem, err := os.ReadFile(cfg.CAFile)
		if err != nil {
			return nil, fmt.Errorf("reading CA file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("CA file %s: no PEM certificates", cfg.CAFile)
		}
		tlsCfg.RootCAs = pool
	}
	ht := &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		TLSClientConfig:       tlsCfg,
		TLSHandshakeTimeout:   10 * time.Second,
		ResponseHeaderTimeout: cfg.RequestTimeout,
		MaxIdleConnsPerHost:   16,
		IdleConnTimeout:       90 * time.Second,
	}
	client, err := es.NewClient(es.Config{
		Addresses:     cfg.URLs,
		Username:      cfg.Username,
		Password:      cfg.Password,
		APIKey:        cfg.APIKey,
		Transport:     productTransport{next: ht, observeBulk: observeBulk, abort: abort},
		RetryOnStatus: []int{429, 502, 503, 504},
		MaxRetries:    3,
		RetryBackoff: func(attempt int) time.Duration {
			return backoff(attempt, 100*time.Millisecond, 2*time.Second)
		},
	})
	if err != nil {
		return nil, fmt.Errorf("creating Elasticsearch client: %w", err)
	}
	return client, nil
}

// backoff is exponential backoff from base to max with ±25% jitter.
func backoff(attempt int, base, max time.Duration) time.Duration {
	d := base
	for i := 1; i < attempt && d < max; i++ {
		d *= 2
	}
	if d > max {
		d = max
	}
	j := time.Duration(time.Now().UnixNano()%int64(d/2+1)) - d/4
	return d + j
}
