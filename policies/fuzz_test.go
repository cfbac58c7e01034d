package policies

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// FuzzParse checks that the loader never panics, that every error carries
// a position, and that every policy it accepts survives Marshal and Parse
// unchanged.
func FuzzParse(f *testing.F) {
	files, _ := filepath.Glob("testdata/*/*.yaml")
	for _, file := range files {
		if data, err := os.ReadFile(file); err == nil {
			f.Add(data)
		}
	}
	f.Add([]byte("max: 1\nchecks: [{name: a, query: up, strategy: {bounds: {lower: 0, upper: 1e308}}}]\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := ParseBytes("f.yaml", data, false)
		if err != nil {
			for _, line := range strings.Split(err.Error(), "\n") {
				if !strings.HasPrefix(line, "f.yaml") {
					t.Fatalf("error without a position: %q", line)
				}
			}
			return
		}
		out, err := p.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		back, err := ParseBytes("m.yaml", out, false)
		if err != nil {
			t.Fatalf("accepted policy does not parse after Marshal: %v\n%s", err, out)
		}
		if !reflect.DeepEqual(p, back) {
			t.Fatalf("round trip changed the policy\n%+v\n%+v\n%s", p, back, out)
		}
	})
}
