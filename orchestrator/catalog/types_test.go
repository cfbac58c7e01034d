package catalog

import (
	"slices"
	"strings"
	"testing"

	"github.com/elk-project/elk/blueprints"
	"github.com/elk-project/elk/orchestrator/target"
)

// A type defined in one file, as a built-in one is: its schema and its
// recipe, registered at init.
func init() {
	register(Type{
		Info: blueprints.TypeInfo{Name: "echo-test", Help: "prints a message", Config: map[string]blueprints.Field{
			"message": {Kind: blueprints.KindString, Help: "what to print"},
			"port":    {Kind: blueprints.KindPort, Help: "port to hold"},
		}, Required: []string{"message"}},
		Build: func(b *builder) error {
			b.spec.Ports = []target.Port{{Name: "http", Static: b.e.Config.Int("port", 8080), Proto: "tcp"}}
			b.spec.Command = []string{"echo", b.e.Config.String("message", "")}
			b.spec.Health = target.Health{TCP: true, Port: "http"}
			return nil
		},
	})
}

// TestAddingATypeIsOneFile: the type above is validated by blueprints
// (unknown keys, kinds, required keys, at their line:col), listed with the
// others, and built by Specs; nothing else knows about it.
func TestAddingATypeIsOneFile(t *testing.T) {
	app, err := blueprints.Parse("t.yaml", []byte("name: t\nentities:\n  - id: e\n    type: echo-test\n    config: {message: hi, port: 9000}\n"))
	if err != nil {
		t.Fatal(err)
	}
	specs, err := Specs(app, Options{Target: blueprints.TargetLocal, ElkBinary: "/bin/elk"})
	if err != nil {
		t.Fatal(err)
	}
	if len(specs) != 1 || !slices.Equal(specs[0].Command, []string{"echo", "hi"}) || specs[0].Ports[0].Static != 9000 {
		t.Fatalf("specs = %+v", specs)
	}
	_, err = blueprints.Parse("t.yaml", []byte("name: t\nentities:\n  - id: e\n    type: echo-test\n    config: {port: 70000, colour: red}\n"))
	for _, want := range []string{"t.yaml:3:5: e: type echo-test needs config.message (what to print)", "t.yaml:5:20: e.config.port: 70000 is not a port number", `unknown field "colour"`} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("bad echo-test entity: error %v, want it to contain %q", err, want)
		}
	}
	var names []string
	for _, ti := range blueprints.Types() {
		names = append(names, ti.Name)
	}
	if !slices.Contains(names, "echo-test") || !slices.Contains(names, TypeSFlowCollector) || !slices.Contains(names, blueprints.TypeGeneric) {
		t.Errorf("types = %v", names)
	}
}

// Local collectors without config.tenants read the server's tenant table;
// config.tenants wins; on Nomad nothing is added.
func TestCollectorReadsTheServersTenantTable(t *testing.T) {
	bp := func(extra string) *blueprints.Application {
		app, err := blueprints.Parse("t.yaml", []byte("name: t\nentities:\n  - id: c\n    type: sflow-collector\n    config: {output: [stdout]"+extra+"}\n"))
		if err != nil {
			t.Fatal(err)
		}
		return app
	}
	args := func(app *blueprints.Application, target string) string {
		specs, err := Specs(app, Options{Target: target, ElkBinary: "/bin/elk", TenantTable: "/state/tenants.yaml"})
		if err != nil {
			t.Fatal(err)
		}
		return strings.Join(specs[0].Command, " ")
	}
	if a := args(bp(""), blueprints.TargetLocal); !strings.Contains(a, "--tenants /state/tenants.yaml") {
		t.Errorf("local collector: %s", a)
	}
	if a := args(bp(", tenants: /etc/mine.yaml"), blueprints.TargetLocal); !strings.Contains(a, "--tenants /etc/mine.yaml") || strings.Contains(a, "/state/") {
		t.Errorf("local collector with config.tenants: %s", a)
	}
	if a := args(bp(""), blueprints.TargetNomad); strings.Contains(a, "--tenants") {
		t.Errorf("nomad collector: %s", a)
	}
}
