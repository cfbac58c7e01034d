package consul

import (
	"encoding/json"
	"os"
	"testing"

	"github.com/elk-project/elk/orchestrator/internal/replay"
)

// fixtures holds responses recorded from a real agent (see testdata/README.md).
const fixtures = "testdata/consul-1.16.0-dev"

func newReplay(t *testing.T) *replay.Server { return replay.New(t, fixtures, "X-Consul-Index") }

func loadFixture(t *testing.T, name string) replay.Response { return replay.Load(t, fixtures, name) }

func readFile(path string) ([]byte, error) { return os.ReadFile(path) }

func jsonOf(v any) string { b, _ := json.Marshal(v); return string(b) }
