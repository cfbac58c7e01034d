package catalog

import (
	"strings"
	"testing"

	"github.com/elk-project/elk/blueprints"
)

// TestOutputCredentialsLeaveTheCommandLine: user:password in an
// Elasticsearch output URL goes to the child's environment, never into its
// arguments (which ps and Nomad job listings show).
func TestOutputCredentialsLeaveTheCommandLine(t *testing.T) {
	bp := `name: c
target: local
entities:
  - id: collector
    type: sflow-collector
    config:
      output: ["elasticsearch:https://elk:s3cret-pw@es.example:9200?index_prefix=x"]
`
	app, err := blueprints.Parse("c.yaml", []byte(bp))
	if err != nil {
		t.Fatal(err)
	}
	for _, tgt := range []string{blueprints.TargetLocal, blueprints.TargetNomad} {
		t.Run(tgt, func(t *testing.T) {
			specs, err := Specs(app, Options{Target: tgt, ElkBinary: "/opt/elk"})
			if err != nil {
				t.Fatal(err)
			}
			s := find(specs, "collector")
			args := strings.Join(s.Command, " ")
			if strings.Contains(args, "s3cret-pw") || strings.Contains(args, "elk:") {
				t.Errorf("credentials on the command line: %s", args)
			}
			if !strings.Contains(args, "--output elasticsearch:https://es.example:9200?index_prefix=x") {
				t.Errorf("output lost its URL or options: %s", args)
			}
			if s.Secrets["ELASTICSEARCH_USERNAME"] != "elk" || s.Secrets["ELASTICSEARCH_PASSWORD"] != "s3cret-pw" {
				t.Errorf("secrets lack the credentials (env %v)", s.Env)
			}
			if _, ok := s.Env["ELASTICSEARCH_PASSWORD"]; ok {
				t.Errorf("the password is in the plain environment: %v", s.Env)
			}
		})
	}
}
