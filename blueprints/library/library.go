// Package library holds elk's stock blueprints, embedded in the binary so
// that `elk up`, `elk deploy` and `elk blueprint` can use them by name from
// any directory. A reference is either a stock name ("local-demo", or
// "local-demo.yaml") or a file path; a path that exists always wins.
package library

import (
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/elk-project/elk/blueprints"
	// The built-in entity types register with blueprints there.
	_ "github.com/elk-project/elk/orchestrator/catalog"
)

//go:embed *.yaml
var files embed.FS

// Dir is the directory of the stock blueprints in the source tree; it names
// embedded blueprints in error positions (library/local-demo.yaml:3:5).
const Dir = "library"

// ErrUnknown is returned for a reference that is neither a file nor a stock
// blueprint.
var ErrUnknown = errors.New("no such blueprint")

// Entry describes one stock blueprint.
type Entry struct {
	Name        string `json:"name"`        // reference to pass to elk up/deploy
	App         string `json:"app"`         // the application's name inside
	Target      string `json:"target"`      // local or nomad
	Description string `json:"description"` // the blueprint's own description
}

// Names returns the stock blueprints' names, sorted.
func Names() []string {
	ents, _ := fs.ReadDir(files, ".")
	var out []string
	for _, e := range ents {
		if n, ok := strings.CutSuffix(e.Name(), ".yaml"); ok && !e.IsDir() {
			out = append(out, n)
		}
	}
	sort.Strings(out)
	return out
}

// List describes every stock blueprint, sorted by name.
func List() ([]Entry, error) {
	var out []Entry
	for _, n := range Names() {
		data, err := Read(n)
		if err != nil {
			return nil, err
		}
		var head struct {
			Name        string `yaml:"name"`
			Target      string `yaml:"target"`
			Description string `yaml:"description"`
		}
		if err := yaml.Unmarshal(data, &head); err != nil {
			return nil, fmt.Errorf("stock blueprint %s: %w", n, err)
		}
		out = append(out, Entry{Name: n, App: head.Name, Target: head.Target, Description: head.Description})
	}
	return out, nil
}

// Read returns the stock blueprint name (with or without ".yaml").
func Read(name string) ([]byte, error) {
	base := strings.TrimSuffix(name, ".yaml")
	if base == "" || strings.ContainsAny(base, `/\`) || strings.HasPrefix(base, ".") {
		return nil, unknown(name)
	}
	data, err := files.ReadFile(base + ".yaml")
	if err != nil {
		return nil, unknown(name)
	}
	return data, nil
}

func unknown(ref string) error {
	return fmt.Errorf("%w %q: not a file, and not a stock blueprint (stock: %s; elk blueprint list)",
		ErrUnknown, ref, strings.Join(Names(), ", "))
}

// Open resolves ref: an existing file is read from disk; otherwise ref is
// looked up among the stock blueprints. It returns the name to use in error
// positions and the blueprint's bytes.
func Open(ref string) (filename string, data []byte, err error) {
	if st, serr := os.Stat(ref); serr == nil {
		if st.IsDir() {
			return "", nil, fmt.Errorf("read blueprint %s: is a directory", ref)
		}
		data, err := os.ReadFile(ref)
		if err != nil {
			return "", nil, fmt.Errorf("read blueprint: %w", err)
		}
		return ref, data, nil
	} else if !errors.Is(serr, fs.ErrNotExist) {
		return "", nil, fmt.Errorf("read blueprint: %w", serr)
	}
	data, err = Read(ref)
	if err != nil {
		return "", nil, err
	}
	return Dir + "/" + strings.TrimSuffix(ref, ".yaml") + ".yaml", data, nil
}

// Load resolves ref as Open does, then parses and validates it.
func Load(ref string) (*blueprints.Application, error) {
	name, data, err := Open(ref)
	if err != nil {
		return nil, err
	}
	return blueprints.Parse(name, data)
}
