package elasticsearch

import (
	"strings"
	"time"

	"github.com/elk-project/elk/collector/sink"
)

type indexKey struct {
	dataset, tenant string
	day             int64
}

// IndexName returns the daily index for a dataset, tenant and time:
// <prefix>-flow-<tenant|default>-YYYY.MM.DD.
func IndexName(prefix, dataset, tenant string, t time.Time) string {
	kind := strings.TrimPrefix(dataset, "sflow.")
	switch kind {
	case "flow", "counters", "discards":
	default:
		kind = "other"
	}
	return prefix + "-" + kind + "-" + sanitizeTenant(tenant) + "-" + t.UTC().Format("2006.01.02")
}

func sanitizeTenant(t string) string {
	if t == "" {
		return "default"
	}
	b := []byte(strings.ToLower(t))
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_' || c == '.') {
			b[i] = '_'
		}
	}
	return string(b)
}

func (s *Sink) indexFor(d *sink.Doc) string {
	t := d.Time
	if t.IsZero() {
		t = s.now()
	}
	k := indexKey{d.Dataset, d.Tenant, t.UTC().Unix() / 86400}
	s.idxMu.Lock()
	defer s.idxMu.Unlock()
	if name, ok := s.idxCache[k]; ok {
		return name
	}
	if len(s.idxCache) > 4096 {
		clear(s.idxCache)
	}
	name := IndexName(s.cfg.IndexPrefix, d.Dataset, d.Tenant, t)
	s.idxCache[k] = name
	return name
}
