package elasticsearch

import (
	"bytes"
	"context"
	"encoding/pem"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestAuthAndTLS(t *testing.T) {
	tests := []struct {
		name     string
		cfg      func(url string) Config
		wantAuth string
	}{
		{
			name: "basic from URL user info",
			cfg: func(u string) Config {
				return Config{URLs: []string{strings.Replace(u, "https://", "https://elastic:s3cret@", 1)}}
			},
			wantAuth: "Basic ZWxhc3RpYzpzM2NyZXQ=",
		},
		{
			name:     "basic from config",
			cfg:      func(u string) Config { return Config{URLs: []string{u}, Username: "elastic", Password: "s3cret"} },
			wantAuth: "Basic ZWxhc3RpYzpzM2NyZXQ=",
		},
		{
			name:     "api key",
			cfg:      func(u string) Config { return Config{URLs: []string{u}, APIKey: "a2V5OnNlY3JldA=="} },
			wantAuth: "APIKey a2V5OnNlY3JldA==",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var mu sync.Mutex
			var seen []string
			srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				mu.Lock()
				seen = append(seen, r.Header.Get("Authorization"))
				mu.Unlock()
				w.Header().Set("X-Elastic-Product", "Elasticsearch")
				w.Header().Set("Content-Type", "application/json")
				w.Write([]byte(`{"acknowledged":true}`))
			}))
			defer srv.Close()
			ca := filepath.Join(t.TempDir(), "ca.pem")
			if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o600); err != nil {
				t.Fatal(err)
			}
			cfg := tc.cfg(srv.URL)
			cfg.CAFile = ca
			var logs bytes.Buffer
			s, err := New(cfg, Deps{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			s.Close(ctx)
			mu.Lock()
			defer mu.Unlock()
			if len(seen) == 0 {
				t.Fatal("no request reached the TLS server: CA file not used?")
			}
			if seen[0] != tc.wantAuth {
				t.Errorf("Authorization = %q, want %q", seen[0], tc.wantAuth)
			}
			if strings.Contains(logs.String(), "s3cret") {
				t.Errorf("password in logs: %s", logs.String())
			}
		})
	}
}

func TestSecretsNotLoggedWhenUnreachable(t *testing.T) {
	var logs bytes.Buffer
	s, err := New(Config{URLs: []string{"http://elastic:s3cret@127.0.0.1:1"}, SpoolDir: t.TempDir()},
		Deps{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Write(context.Background(), testDocs(3, "")); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	s.Close(ctx)
	if strings.Contains(logs.String(), "s3cret") || !strings.Contains(logs.String(), "REDACTED") && !strings.Contains(logs.String(), "127.0.0.1:1") {
		t.Errorf("logs leak the password or do not name the cluster:\n%s", logs.String())
	}
}
