package library

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/elk-project/elk/blueprints"
)

func TestStockBlueprintsAreEmbeddedAndValid(t *testing.T) {
	ents, err := List()
	if err != nil {
		t.Fatal(err)
	}
	onDisk, _ := filepath.Glob("*.yaml")
	if len(ents) != len(onDisk) || len(ents) == 0 {
		t.Fatalf("embedded %d stock blueprints, the directory holds %d", len(ents), len(onDisk))
	}
	for _, e := range ents {
		if e.Description == "" || e.App == "" {
			t.Errorf("%s: want an app name and a description, got %+v", e.Name, e)
		}
		app, err := Load(e.Name)
		if err != nil {
			t.Errorf("load %s: %v", e.Name, err)
			continue
		}
		if app.Name != e.App {
			t.Errorf("%s: app %q, list says %q", e.Name, app.Name, e.App)
		}
	}
}

func TestOpen(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "mine.yaml")
	if err := os.WriteFile(file, []byte("name: mine\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	// A file named like a stock blueprint shadows it.
	shadow := filepath.Join(dir, "local-demo")
	if err := os.WriteFile(shadow, []byte("name: shadow\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	stock, _ := Read("local-demo")
	t.Chdir(t.TempDir()) // the package directory holds the source files of the stock blueprints
	tests := []struct {
		name, ref, wantFile, wantErr string
		want                         []byte
	}{
		{name: "stock name", ref: "local-demo", wantFile: "library/local-demo.yaml", want: stock},
		{name: "stock name with .yaml", ref: "local-demo.yaml", wantFile: "library/local-demo.yaml", want: stock},
		{name: "file path", ref: file, wantFile: file, want: []byte("name: mine\n")},
		{name: "existing file wins over a stock name", ref: shadow, wantFile: shadow, want: []byte("name: shadow\n")},
		{name: "unknown name lists the stock ones", ref: "nope", wantErr: "stock: local-demo, sflow-stack, tenant-stack"},
		{name: "missing path", ref: filepath.Join(dir, "missing.yaml"), wantErr: "no such blueprint"},
		{name: "no escaping the library", ref: "../parse", wantErr: "no such blueprint"},
		{name: "directory", ref: dir, wantErr: "is a directory"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f, data, err := Open(tc.ref)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("Open(%q) error %v, want one containing %q", tc.ref, err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if f != tc.wantFile || string(data) != string(tc.want) {
				t.Fatalf("Open(%q) = %q, %d bytes; want %q, %d bytes", tc.ref, f, len(data), tc.wantFile, len(tc.want))
			}
		})
	}
	if _, _, err := Open("nope"); !errors.Is(err, ErrUnknown) {
		t.Fatalf("unknown reference: %v, want ErrUnknown", err)
	}
}

func TestLoadErrorNamesTheFile(t *testing.T) {
	file := filepath.Join(t.TempDir(), "bad.yaml")
	if err := os.WriteFile(file, []byte("name: x\ntarget: local\nentities:\n  - id: a\n    type: nosuch\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := Load(file)
	var be *blueprints.Error
	if !errors.As(err, &be) || be.Pos.File != file || be.Pos.Line != 5 {
		t.Fatalf("Load: %v; want a blueprints.Error at %s:5", err, file)
	}
}
