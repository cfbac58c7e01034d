package main

import (
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

func TestAddOutputs(t *testing.T) {
	cases := []struct {
		name, in string
		want     []string // outputs of the collector afterwards
	}{
		{"appends to a list", "name: d\nentities:\n  - id: c\n    type: sflow-collector\n    config:\n      output: [file:x]\n", []string{"file:x", "elasticsearch:http://es:9200"}},
		{"turns a scalar into a list", "name: d\nentities:\n  - id: c\n    type: sflow-collector\n    config:\n      output: stdout\n", []string{"stdout", "elasticsearch:http://es:9200"}},
		{"creates config and output", "name: d\nentities:\n  - id: c\n    type: sflow-collector\n", []string{"elasticsearch:http://es:9200"}},
		{"leaves other types alone", "name: d\nentities:\n  - id: a\n    type: sflow-agent\n", nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			out, err := addOutputs([]byte(tc.in), []string{"elasticsearch:http://es:9200"})
			if err != nil {
				t.Fatal(err)
			}
			var doc struct {
				Entities []struct {
					Type   string
					Config struct{ Output []string }
				}
			}
			if err := yaml.Unmarshal(out, &doc); err != nil {
				t.Fatalf("result does not parse: %v\n%s", err, out)
			}
			got := doc.Entities[0].Config.Output
			if strings.Join(got, ",") != strings.Join(tc.want, ",") {
				t.Errorf("outputs %v, want %v\n%s", got, tc.want, out)
			}
		})
	}
	same, _ := addOutputs([]byte("a: [unclosed"), []string{"x"})
	if string(same) != "a: [unclosed" {
		t.Errorf("invalid YAML was rewritten: %q", same)
	}
}
