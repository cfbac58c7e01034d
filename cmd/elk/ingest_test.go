package main

import (
	"strings"
	"testing"
	"time"
)

func TestParseESOutput(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		check   func(t *testing.T, url, spool, prefix string, workers int, flush time.Duration, user, pass string)
		wantErr string
	}{
		{
			name: "plain",
			in:   "http://127.0.0.1:9200",
			check: func(t *testing.T, url, spool, prefix string, workers int, flush time.Duration, user, pass string) {
				if url != "http://127.0.0.1:9200" || spool != "" || prefix != "" {
					t.Errorf("got url %q spool %q prefix %q", url, spool, prefix)
				}
			},
		},
		{
			name: "options and credentials",
			in:   "https://elastic:s3cret@es:9200?spool=/var/lib/elk/spool&index_prefix=sflow&workers=4&flush_interval=250ms",
			check: func(t *testing.T, url, spool, prefix string, workers int, flush time.Duration, user, pass string) {
				if strings.Contains(url, "?") || strings.Contains(url, "spool") {
					t.Errorf("options left in url %q", url)
				}
				if spool != "/var/lib/elk/spool" || prefix != "sflow" || workers != 4 || flush != 250*time.Millisecond {
					t.Errorf("got spool %q prefix %q workers %d flush %s", spool, prefix, workers, flush)
				}
			},
		},
		{name: "unknown option", in: "http://es:9200?spol=/x", wantErr: `unknown option "spol"`},
		{name: "bad number", in: "http://es:9200?workers=many", wantErr: "workers"},
		{name: "secret not echoed", in: "http://u:s3cret@es:9200?bogus=1", wantErr: "REDACTED"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("ELASTICSEARCH_USERNAME", "")
			t.Setenv("ELASTICSEARCH_PASSWORD", "")
			t.Setenv("ELASTICSEARCH_API_KEY", "")
			cfg, err := parseESOutput(tc.in)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want it to contain %q", err, tc.wantErr)
				}
				if strings.Contains(err.Error(), "s3cret") {
					t.Errorf("error leaks the password: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tc.check(t, cfg.URLs[0], cfg.SpoolDir, cfg.IndexPrefix, cfg.Workers, cfg.FlushInterval, cfg.Username, cfg.Password)
		})
	}
}
