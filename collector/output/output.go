// Package output owns the grammar of collector outputs, the values of
// --output and of a blueprint's config.output:
//
//	file:PATH                  NDJSON file
//	stdout (or -)              NDJSON on standard output
//	elasticsearch:URL[?opts]   Elasticsearch bulk API (alias es:URL)
//	kafka:BROKERS/TOPIC        Kafka topic, BROKERS comma-separated
//
// Parse turns a value into a typed Spec that the sinks take; String renders
// it back and Redacted renders it for logs and errors. In a blueprint,
// kafka:ENTITY[/TOPIC] and elasticsearch:ENTITY may name an entity of the
// application instead of an address (see Ref).
package output

import (
	"errors"
	"fmt"
	"maps"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Kind of output.
type Kind string

// Kinds.
const (
	File          Kind = "file"
	Stdout        Kind = "stdout"
	Elasticsearch Kind = "elasticsearch"
	Kafka         Kind = "kafka"
)

// Help describes the values, for flag help.
const Help = `where documents go (repeatable): file:PATH (NDJSON, rotated at 1 GiB, fsync on exit), ` +
	`stdout, elasticsearch:URL, kafka:BROKERS/TOPIC. elasticsearch:URL spools to disk while the cluster is ` +
	`unreachable, by default in $XDG_STATE_HOME/elk/spool/PREFIX-HASH (~/.local/state/elk/spool/...; ` +
	`a collector finding it in use takes DIR.$ELK_INSTANCE or DIR.pid-PID), at most 1 GiB ` +
	`(?spool_max_bytes=N); ?spool=DIR picks the directory, ?spool=off blocks instead`

// Spec is one parsed output.
type Spec struct {
	Kind Kind
	// Path of a file output.
	Path string
	// URL of an Elasticsearch output, without its options; it may carry
	// user:password (never shown: see Redacted).
	URL string
	// ES are the options of an Elasticsearch output.
	ES ESOptions
	// Brokers and Topic of a Kafka output.
	Brokers []string
	Topic   string
}

// ESOptions are the options of an elasticsearch:URL output, given in its
// query string:
//
//	spool=DIR|off        collector only: spool to DIR while the cluster is
//	                     unreachable (default: a directory per cluster and
//	                     prefix under the state directory); off makes
//	                     writes block instead
//	spool_max_bytes=N    bound of the spool (default 1 GiB)
//	index_prefix=NAME    index and template prefix (default sflow)
//	ca_file=PATH         CA certificates for https
//	close_grace=D        on shutdown, how long to wait for requests in
//	                     flight before spooling their documents (default 2s)
//	workers=N, flush_bytes=N, flush_interval=D, max_in_flight=N, replicas=N
type ESOptions struct {
	// Spool is "" (the default directory), a directory, or SpoolOff.
	Spool         string
	SpoolMaxBytes int64
	IndexPrefix   string
	CAFile        string
	CloseGrace    time.Duration
	FlushInterval time.Duration
	Workers       int
	FlushBytes    int
	MaxInFlight   int
	Replicas      *int
}

// SpoolOff is ESOptions.Spool when the output must not spool.
const SpoolOff = "off"

var esOptions = []string{"spool", "spool_max_bytes", "index_prefix", "ca_file", "close_grace", "workers", "flush_bytes", "flush_interval", "max_in_flight", "replicas"}

// Parse parses one output value. Errors name the value, with any password
// redacted.
func Parse(v string) (Spec, error) {
	kind, rest, hasArg := strings.Cut(v, ":")
	switch Kind(kind) {
	case File:
		if rest == "" {
			return Spec{}, fmt.Errorf("output %q: want file:PATH", v)
		}
		return Spec{Kind: File, Path: rest}, nil
	case Stdout, "-":
		if hasArg {
			return Spec{}, fmt.Errorf("output %q: stdout takes no argument", v)
		}
		return Spec{Kind: Stdout}, nil
	case Elasticsearch, "es":
		return parseES(rest)
	case Kafka:
		return parseKafka(rest)
	}
	return Spec{}, fmt.Errorf("output %q: unknown kind %q (want file:PATH, stdout, elasticsearch:URL or kafka:BROKERS/TOPIC)", RedactURL(v), kind)
}

func parseES(raw string) (Spec, error) {
	s := Spec{Kind: Elasticsearch}
	u, err := url.Parse(raw)
	if err != nil {
		return s, fmt.Errorf("elasticsearch output %q: %w", RedactURL(raw), errors.Unwrap(err))
	}
	if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
		return s, fmt.Errorf("elasticsearch output %q: want http(s)://HOST:PORT", RedactURL(raw))
	}
	q := u.Query()
	u.RawQuery = ""
	s.URL = u.String()
	o := &s.ES
	var errs []error
	num := func(key string, dst *int) {
		n, err := strconv.Atoi(q.Get(key))
		if err != nil || n < 0 {
			errs = append(errs, fmt.Errorf("%s=%q: not a number", key, q.Get(key)))
		}
		*dst = n
	}
	dur := func(key string, dst *time.Duration) {
		d, err := time.ParseDuration(q.Get(key))
		if err != nil || d < 0 {
			errs = append(errs, fmt.Errorf("%s=%q: not a duration", key, q.Get(key)))
		}
		*dst = d
	}
	for _, key := range slices.Sorted(maps.Keys(q)) {
		v := q.Get(key)
		switch key {
		case "spool":
			if v == "" {
				errs = append(errs, errors.New("spool=: want a directory or off"))
			}
			o.Spool = v
		case "spool_max_bytes":
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil || n < 0 {
				errs = append(errs, fmt.Errorf("spool_max_bytes=%q: not a number", v))
			}
			o.SpoolMaxBytes = n
		case "index_prefix":
			o.IndexPrefix = v
		case "ca_file":
			o.CAFile = v
		case "close_grace":
			dur(key, &o.CloseGrace)
		case "flush_interval":
			dur(key, &o.FlushInterval)
		case "workers":
			num(key, &o.Workers)
		case "flush_bytes":
			num(key, &o.FlushBytes)
		case "max_in_flight":
			num(key, &o.MaxInFlight)
		case "replicas":
			var n int
			num(key, &n)
			o.Replicas = &n
		default:
			errs = append(errs, fmt.Errorf("unknown option %q (want %s)", key, strings.Join(esOptions, ", ")))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return s, fmt.Errorf("elasticsearch output %q: %w", RedactURL(s.URL), err)
	}
	return s, nil
}

func parseKafka(v string) (Spec, error) {
	i := strings.LastIndex(v, "/")
	if i <= 0 || i == len(v)-1 {
		return Spec{}, fmt.Errorf("kafka output %q: want BROKER[,BROKER]/TOPIC", v)
	}
	s := Spec{Kind: Kafka, Topic: v[i+1:]}
	for _, b := range strings.Split(v[:i], ",") {
		if b = strings.TrimSpace(b); b != "" {
			s.Brokers = append(s.Brokers, b)
		}
	}
	if len(s.Brokers) == 0 {
		return Spec{}, fmt.Errorf("kafka output %q: no broker", v)
	}
	return s, nil
}

// String renders s as an output value that Parse reads back as s.
func (s Spec) String() string {
	switch s.Kind {
	case File:
		return "file:" + s.Path
	case Stdout:
		return "stdout"
	case Kafka:
		return "kafka:" + strings.Join(s.Brokers, ",") + "/" + s.Topic
	case Elasticsearch:
		return "elasticsearch:" + s.URL + s.ES.query()
	}
	return string(s.Kind)
}

func (o ESOptions) query() string {
	q := url.Values{}
	set := func(k, v string) {
		if v != "" {
			q.Set(k, v)
		}
	}
	set("spool", o.Spool)
	set("index_prefix", o.IndexPrefix)
	set("ca_file", o.CAFile)
	for k, n := range map[string]int64{"spool_max_bytes": o.SpoolMaxBytes, "workers": int64(o.Workers),
		"flush_bytes": int64(o.FlushBytes), "max_in_flight": int64(o.MaxInFlight)} {
		if n != 0 {
			q.Set(k, strconv.FormatInt(n, 10))
		}
	}
	for k, d := range map[string]time.Duration{"close_grace": o.CloseGrace, "flush_interval": o.FlushInterval} {
		if d != 0 {
			q.Set(k, d.String())
		}
	}
	if o.Replicas != nil {
		q.Set("replicas", strconv.Itoa(*o.Replicas))
	}
	if len(q) == 0 {
		return ""
	}
	return "?" + q.Encode() // sorted by key
}

// Redacted is String with any password replaced by REDACTED.
func (s Spec) Redacted() string {
	if s.Kind != Elasticsearch {
		return s.String()
	}
	s.URL = RedactURL(s.URL)
	return s.String()
}

// Credentials returns the user and password of an Elasticsearch URL.
func (s Spec) Credentials() (user, password string, ok bool) {
	u, err := url.Parse(s.URL)
	if s.Kind != Elasticsearch || err != nil || u.User == nil {
		return "", "", false
	}
	password, _ = u.User.Password()
	return u.User.Username(), password, true
}

// WithoutCredentials returns s with the user and password taken out of its
// URL.
func (s Spec) WithoutCredentials() Spec {
	if u, err := url.Parse(s.URL); s.Kind == Elasticsearch && err == nil && u.User != nil {
		u.User = nil
		s.URL = u.String()
	}
	return s
}

// RedactURL replaces the userinfo of a URL (or of what looks like one) by
// REDACTED.
func RedactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		if i := strings.LastIndex(raw, "@"); i >= 0 {
			return "REDACTED@" + raw[i+1:]
		}
		return raw
	}
	if u.User != nil {
		u.User = url.User("REDACTED")
	}
	return u.String()
}

// Ref recognizes the blueprint forms that name an entity of the
// application instead of an address: kafka:ENTITY[/TOPIC] and
// elasticsearch:ENTITY, where ENTITY is a bare name (no scheme, port or
// dot). ok is false for every other value.
func Ref(v string) (kind Kind, entity, topic string, ok bool) {
	k, rest, _ := strings.Cut(v, ":")
	switch Kind(k) {
	case Kafka:
		entity, topic, _ = strings.Cut(rest, "/")
	case Elasticsearch, "es":
		entity = rest
	default:
		return "", "", "", false
	}
	if entity == "" || strings.ContainsAny(entity, ":./,@?") {
		return "", "", "", false
	}
	if k == "es" {
		k = string(Elasticsearch)
	}
	return Kind(k), entity, topic, true
}
