package stdout

import (
	"bytes"
	"context"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/elk-project/elk/collector/sink"
)

func TestWriteFlushClose(t *testing.T) {
	var buf bytes.Buffer
	s, err := New(Config{}, Deps{Writer: &buf, Metrics: prometheus.NewRegistry()})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	docs := []sink.Doc{{Body: []byte(`{"a":1}`)}, {Body: []byte(`{"b":2}`), Tenant: "acme"}}
	if err := s.Write(ctx, docs); err != nil {
		t.Fatal(err)
	}
	if buf.Len() != 0 {
		t.Errorf("wrote %q before Flush, want buffering", buf.String())
	}
	if err := s.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if got, want := buf.String(), "{\"a\":1}\n{\"b\":2}\n"; got != want {
		t.Errorf("output %q, want %q", got, want)
	}
	if err := s.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if err := s.Write(ctx, docs); err == nil {
		t.Error("write after close succeeded")
	}
}
