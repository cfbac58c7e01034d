package server

import (
	"errors"
	"strings"
	"testing"

	"github.com/elk-project/elk/orchestrator/catalog"
)

func TestDefaultDiscovery(t *testing.T) {
	for _, tc := range []struct{ consul, want string }{
		{"", DiscoveryNomad},
		{"http://127.0.0.1:8500", DiscoveryConsul},
	} {
		got := DefaultDiscovery(func(k string) string {
			if k == "CONSUL_HTTP_ADDR" {
				return tc.consul
			}
			return ""
		})
		if got != tc.want {
			t.Errorf("CONSUL_HTTP_ADDR=%q: %s, want %s", tc.consul, got, tc.want)
		}
	}
}

func TestNewNomadRejectsUnknownDiscovery(t *testing.T) {
	_, err := NewNomad(NomadConfig{Discovery: "etcd"})
	if err == nil || !strings.Contains(err.Error(), `unknown discovery "etcd"`) {
		t.Fatalf("got %v", err)
	}
}

func TestCompilerAddressCheck(t *testing.T) {
	const standalone = `name: solo
target: nomad
entities:
  - id: collector
    type: sflow-collector
    config: {output: [stdout]}
`
	const wired = standalone + `  - id: agent
    type: sflow-agent
    config: {collector: collector}
    depends_on: [collector]
`
	refuse := errors.New("one-node clusters only")
	for _, tc := range []struct {
		name, bp string
		check    error
		wantRefs []string
		wantErr  bool
		wantArg  string
	}{
		{name: "no references", bp: standalone},
		{name: "references allowed", bp: wired, wantRefs: []string{"collector"}, wantArg: "--target ${attr.unique.network.ip-address}:6343"},
		{name: "references refused", bp: wired, check: refuse, wantRefs: []string{"collector"}, wantErr: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var gotRefs []string
			c := BlueprintCompiler{
				Options: catalog.Options{Target: "nomad", ElkBinary: "/opt/elk",
					ServiceHost: func(string, string) string { return nodeAddress }},
				AddressCheck: func(app string, refs []string) error {
					gotRefs = refs
					return tc.check
				},
			}
			compiled, err := c.Compile("solo.yaml", []byte(tc.bp))
			app := compiled.App
			if strings.Join(gotRefs, ",") != strings.Join(tc.wantRefs, ",") {
				t.Errorf("refs %v, want %v", gotRefs, tc.wantRefs)
			}
			if tc.wantErr {
				if !errors.Is(err, refuse) {
					t.Fatalf("err %v, want %v", err, refuse)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tc.wantArg != "" {
				cmd := strings.Join(app.Entities[len(app.Entities)-1].Spec.Command, " ")
				if !strings.Contains(cmd, tc.wantArg) {
					t.Errorf("agent command %q lacks %q", cmd, tc.wantArg)
				}
			}
		})
	}
}
