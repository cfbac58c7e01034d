package elasticsearch

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"github.com/elk-project/elk/collector/output"
)

// FromSpec is the configuration of an elasticsearch:URL output. The
// credentials stay in the URL (New moves them out); Spool is left to the
// caller (see Collector and Ingest).
func FromSpec(s output.Spec) (Config, error) {
	if s.Kind != output.Elasticsearch {
		return Config{}, fmt.Errorf("output %s is not an Elasticsearch output", s.Redacted())
	}
	o := s.ES
	return Config{
		URLs: []string{s.URL}, CAFile: o.CAFile, IndexPrefix: o.IndexPrefix,
		Workers: o.Workers, FlushBytes: o.FlushBytes, FlushInterval: o.FlushInterval, MaxInFlight: o.MaxInFlight,
		SpoolMaxBytes: o.SpoolMaxBytes, CloseGrace: o.CloseGrace, Replicas: o.Replicas,
	}, nil
}

// Ingest is the configuration of elk ingest's elasticsearch:URL output.
// Ingest never spools: Kafka is its buffer, and offsets are committed only
// once Elasticsearch acknowledged the documents.
func Ingest(s output.Spec, getenv func(string) string) (Config, error) {
	cfg, err := FromSpec(s)
	if err != nil {
		return cfg, err
	}
	if s.ES.Spool != "" && s.ES.Spool != output.SpoolOff {
		return cfg, errors.New("elk ingest does not spool (Kafka is its buffer): drop the spool option")
	}
	cfg.ApplyEnv(getenv)
	return cfg, nil
}

// Collector is the configuration of a collector's elasticsearch:URL
// output, with its spool policy: unless the output says spool=DIR or
// spool=off, it spools to DefaultSpoolDir under stateDir. When another
// collector on the machine holds that directory, the spool moves to
// DIR.ELK_INSTANCE (set by the local target) or else DIR.pid-PID. When the
// default directory cannot be created (a read-only home, say), the output
// runs without a spool and says so.
func Collector(s output.Spec, stateDir string, getenv func(string) string, log *slog.Logger) (Config, error) {
	cfg, err := FromSpec(s)
	if err != nil {
		return cfg, err
	}
	switch s.ES.Spool {
	case output.SpoolOff:
	case "":
		dir := DefaultSpoolDir(stateDir, cfg)
		if err := os.MkdirAll(dir, 0o750); err != nil {
			log.Warn("elasticsearch output: cannot create the default spool directory; writes will block while the cluster is unreachable (set ?spool=DIR)",
				"error", err)
		} else {
			cfg.SpoolDir = dir
		}
	default:
		cfg.SpoolDir = s.ES.Spool
	}
	if cfg.SpoolDir != "" {
		if inst := getenv("ELK_INSTANCE"); inst != "" {
			cfg.SpoolAlternates = append(cfg.SpoolAlternates, cfg.SpoolDir+"."+filepath.Base(inst))
		}
		cfg.SpoolAlternates = append(cfg.SpoolAlternates, fmt.Sprintf("%s.pid-%d", cfg.SpoolDir, os.Getpid()))
		// Last resort, never in use: containers on a shared volume all run
		// as pid 1, and a running collector may be draining any of the
		// above for a moment.
		cfg.SpoolAlternates = append(cfg.SpoolAlternates, fmt.Sprintf("%s.run-%s", cfg.SpoolDir, rand.Text()[:12]))
		// Spools of this output left by collectors that have stopped are
		// drained by the ones still running.
		cfg.SpoolAdopt = []string{globEscape(cfg.SpoolDir), globEscape(cfg.SpoolDir) + ".*"}
	}
	cfg.ApplyEnv(getenv)
	return cfg, nil
}

// DefaultSpoolDir is where a collector's output spools unless told
// otherwise: stateDir/spool/PREFIX-HASH, HASH naming the cluster's URLs
// (without credentials), so outputs to different clusters or prefixes
// never share a spool.
func DefaultSpoolDir(stateDir string, cfg Config) string {
	h := sha256.New()
	for _, raw := range cfg.URLs {
		u, err := url.Parse(raw)
		if err == nil {
			u.User = nil
			raw = u.Scheme + "://" + u.Host + strings.TrimSuffix(u.Path, "/")
		}
		io.WriteString(h, raw+"\n")
	}
	prefix := cfg.IndexPrefix
	if prefix == "" {
		prefix = "sflow"
	}
	return filepath.Join(stateDir, "spool", prefix+"-"+hex.EncodeToString(h.Sum(nil))[:12])
}

// globEscape quotes the glob metacharacters of a path.
func globEscape(p string) string {
	var b strings.Builder
	for _, r := range p {
		if strings.ContainsRune(`*?[\`, r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}
