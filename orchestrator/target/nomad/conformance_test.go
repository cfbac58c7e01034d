package nomad

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/hashicorp/nomad/api"

	"github.com/elk-project/elk/orchestrator/target"
	"github.com/elk-project/elk/orchestrator/target/targettest"
)

// serveEnv makes the test binary a tiny HTTP server (the conformance
// suite's long-lived, health-checked entity) instead of running tests.
const serveEnv = "ELK_NOMAD_TEST_SERVE"

func TestMain(m *testing.M) {
	if os.Getenv(serveEnv) != "" {
		addr := "127.0.0.1:" + os.Args[len(os.Args)-1]
		http.HandleFunc("/health", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok")) })
		fmt.Fprintln(os.Stderr, http.ListenAndServe(addr, nil))
		os.Exit(1)
	}
	os.Exit(m.Run())
}

// TestConformance runs the target conformance suite against the Nomad agent
// at NOMAD_ADDR (with raw_exec enabled, e.g. `nomad agent -dev`). Services
// register in Consul when CONSUL_HTTP_ADDR is set, in Nomad otherwise.
func TestConformance(t *testing.T) {
	if os.Getenv("NOMAD_ADDR") == "" {
		t.Skip("NOMAD_ADDR is not set: skipping the Nomad conformance suite (run a `nomad agent -dev` and set NOMAD_ADDR)")
	}
	exe, err := filepath.Abs(os.Args[0])
	if err != nil {
		t.Fatal(err)
	}
	provider := "nomad"
	if os.Getenv("CONSUL_HTTP_ADDR") != "" {
		provider = "consul"
	}
	targettest.Run(t, func(t *testing.T) targettest.Harness {
		c, err := api.NewClient(api.DefaultConfig())
		if err != nil {
			t.Fatal(err)
		}
		tg, err := New(Config{Client: c, PollInterval: 250 * time.Millisecond, Jobs: JobOptions{
			ServiceProvider: provider,
			MinHealthyTime:  time.Second,
			HealthyDeadline: 30 * time.Second,
		}})
		if err != nil {
			t.Fatal(err)
		}
		return targettest.Harness{
			Target:  tg,
			Timeout: 2 * time.Minute,
			Spec: func(app, entity string, count int) target.Spec {
				return target.Spec{
					App: app, Entity: entity, Type: "generic", Count: count,
					Command:  []string{exe, "-test.run=^$", "${port.http}"},
					Env:      map[string]string{serveEnv: "1"},
					Ports:    []target.Port{{Name: "http", Proto: "tcp"}},
					CPUMHz:   20,
					MemoryMB: 32,
					Health:   target.Health{HTTPPath: "/health", Port: "http", Interval: time.Second, Timeout: time.Second},
					Tags:     []string{"app=" + app, "entity=" + entity},
				}
			},
			Failing: func(app, entity string) target.Spec {
				return target.Spec{App: app, Entity: entity, Type: "generic", Count: 1,
					Command: []string{"/bin/false"}, CPUMHz: 20, MemoryMB: 16}
			},
		}
	})
}
