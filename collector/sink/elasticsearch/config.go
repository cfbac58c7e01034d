// Package elasticsearch is the sink that bulk-indexes documents into
// Elasticsearch (7.x, 8.x, 9.x) or OpenSearch 2.x.
//
// Documents go to daily indices per dataset and tenant
// (<prefix>-flow-<tenant|default>-YYYY.MM.DD) created from index templates the
// sink installs, with the document ID as _id and op_type create, so a
// redelivered document is counted as a duplicate and never indexed twice.
// Transient failures (429, 5xx, connection errors) are retried with backoff;
// Write blocks while the in-flight bound is reached; while the cluster is
// unreachable, documents go to a bounded on-disk spool that drains in order
// once it is back.
package elasticsearch

import (
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/elk-project/elk/collector/output"
)

// Config configures a Sink.
type Config struct {
	// URLs of the cluster's HTTP endpoints. Credentials embedded in a URL
	// (http://user:pass@host:9200) are moved to Username/Password.
	URLs []string
	// Username and Password enable HTTP basic authentication.
	Username string
	Password string
	// APIKey is a base64-encoded Elasticsearch API key; it overrides basic
	// authentication.
	APIKey string
	// CAFile is a PEM file of certificate authorities for https URLs.
	CAFile string

	// IndexPrefix starts every index and template name (default "sflow").
	IndexPrefix string
	// Workers is the number of concurrent bulk requests (default 2).
	Workers int
	// FlushBytes sends a bulk request when a worker buffered this many bytes
	// (default 2 MiB).
	FlushBytes int
	// FlushInterval sends a bulk request at least this often (default 500ms).
	FlushInterval time.Duration
	// MaxInFlight bounds the documents accepted but not yet acknowledged
	// (or spooled); Write blocks while it is reached (default 20000).
	MaxInFlight int
	// RequestTimeout bounds one HTTP request (default 60s).
	RequestTimeout time.Duration

	// SpoolDir enables the on-disk spool: while the cluster is unreachable,
	// documents are appended there and drained in order when it returns.
	// Empty disables spooling: Write then blocks until the cluster is back.
	SpoolDir string
	// SpoolAlternates are tried in order when another sink holds SpoolDir
	// (several collectors with the same output on one machine); the sink
	// uses the first one that is free. Every spool of one output holds
	// documents with deterministic ids for the same cluster, so whichever
	// sink drains a directory later, nothing is indexed twice.
	SpoolAlternates []string
	// SpoolAdopt lists glob patterns of spool directories other sinks of
	// the same output may have left behind (typically SpoolDir and
	// SpoolDir+".*"). While the cluster is healthy and its own spool is
	// empty, the sink drains every matching directory nobody holds: a
	// collector stopped or scaled down while the cluster was unreachable
	// leaves its spool, and a survivor delivers it. Emptied directories
	// other than SpoolDir are removed.
	SpoolAdopt []string
	// SpoolMaxBytes bounds the spool (default 1 GiB). Documents that do not
	// fit are counted as failed.
	SpoolMaxBytes int64

	// CloseGrace is how long Close waits for bulk requests in flight before
	// abandoning them and spooling their documents, when there is a spool
	// (default 2s: well inside the 5s kill grace of Nomad and the local
	// target).
	CloseGrace time.Duration

	// SkipTemplates leaves index templates alone (someone else manages them).
	SkipTemplates bool
	// Replicas, when set, is index.number_of_replicas in the templates;
	// when nil replicas auto-expand from 0 to 1 with the nodes available
	// (a single node stays green).
	Replicas *int
}

// Deps are the sink's collaborators.
type Deps struct {
	Logger  *slog.Logger
	Metrics *prometheus.Registry
	// Now is the clock (default time.Now).
	Now func() time.Time
}

func (c *Config) setDefaults() {
	if c.IndexPrefix == "" {
		c.IndexPrefix = "sflow"
	}
	if c.CloseGrace <= 0 {
		c.CloseGrace = 2 * time.Second
	}
	if c.Workers <= 0 {
		c.Workers = 2
	}
	if c.FlushBytes <= 0 {
		c.FlushBytes = 2 << 20
	}
	if c.FlushInterval <= 0 {
		c.FlushInterval = 500 * time.Millisecond
	}
	if c.MaxInFlight <= 0 {
		c.MaxInFlight = 20000
	}
	if c.RequestTimeout <= 0 {
		c.RequestTimeout = 60 * time.Second
	}
	if c.SpoolMaxBytes <= 0 {
		c.SpoolMaxBytes = 1 << 30
	}
}

// Validate reports every configuration problem at once.
func (c *Config) Validate() error {
	var errs []error
	if len(c.URLs) == 0 {
		errs = append(errs, errors.New("no Elasticsearch URL"))
	}
	for _, raw := range c.URLs {
		u, err := url.Parse(raw)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			errs = append(errs, fmt.Errorf("url %q: want http(s)://HOST:PORT", output.RedactURL(raw)))
		}
	}
	if c.IndexPrefix != "" && c.IndexPrefix != strings.ToLower(c.IndexPrefix) {
		errs = append(errs, fmt.Errorf("index prefix %q must be lowercase", c.IndexPrefix))
	}
	for _, pat := range c.SpoolAdopt {
		if _, err := filepath.Match(pat, ""); err != nil {
			errs = append(errs, fmt.Errorf("spool adopt pattern %q: %w", pat, err))
		}
	}
	return errors.Join(errs...)
}

// ApplyEnv fills unset credentials from ELASTICSEARCH_USERNAME,
// ELASTICSEARCH_PASSWORD and ELASTICSEARCH_API_KEY.
func (c *Config) ApplyEnv(getenv func(string) string) {
	if getenv == nil {
		getenv = os.Getenv
	}
	if c.Username == "" {
		c.Username = getenv("ELASTICSEARCH_USERNAME")
	}
	if c.Password == "" {
		c.Password = getenv("ELASTICSEARCH_PASSWORD")
	}
	if c.APIKey == "" {
		c.APIKey = getenv("ELASTICSEARCH_API_KEY")
	}
}

// extractCredentials moves user:password out of the URLs into the config.
func (c *Config) extractCredentials() {
	for i, raw := range c.URLs {
		u, err := url.Parse(raw)
		if err != nil || u.User == nil {
			continue
		}
		if c.Username == "" {
			c.Username = u.User.Username()
		}
		if p, ok := u.User.Password(); ok && c.Password == "" {
			c.Password = p
		}
		u.User = nil
		c.URLs[i] = u.String()
	}
}
