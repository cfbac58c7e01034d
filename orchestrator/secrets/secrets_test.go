package secrets

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestKeyringSealsAndOpens(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keyring")
	k, err := LoadOrCreate(path)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("keyring file: %v %v", fi, err)
	}
	s, err := k.Seal("hunter2")
	if err != nil || !IsSealed(s) || strings.Contains(s, "hunter2") {
		t.Fatalf("Seal = %q, %v", s, err)
	}
	again, _ := k.Seal("hunter2")
	if again == s {
		t.Error("two seals of one value are equal (nonce reused)")
	}
	k2, err := LoadOrCreate(path) // the same key, read back
	if err != nil {
		t.Fatal(err)
	}
	if p, err := k2.Open(s); err != nil || p != "hunter2" {
		t.Errorf("Open = %q, %v", p, err)
	}
	if p, err := k2.Open("plain"); err != nil || p != "plain" {
		t.Errorf("Open(plain) = %q, %v", p, err)
	}
	other, _ := LoadOrCreate(filepath.Join(t.TempDir(), "other"))
	if _, err := other.Open(s); err == nil {
		t.Error("another keyring opened the value")
	}
	var none *Keyring
	if _, err := none.Open(s); err == nil {
		t.Error("no keyring opened the value")
	}
	if _, err := k.Open(sealedPrefix + "!!"); err == nil {
		t.Error("malformed value opened")
	}
	tampered := s[:len(s)-2] + "AA"
	if _, err := k.Open(tampered); err == nil {
		t.Error("tampered value opened")
	}
	if err := os.WriteFile(path, []byte("short"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadOrCreate(path); err == nil {
		t.Error("a 5-byte key was accepted")
	}
}

func TestRedactText(t *testing.T) {
	for in, want := range map[string]string{
		"output: [elasticsearch:https://elk:s3cr:et@es:9200?spool=x]": "output: [elasticsearch:https://elk:REDACTED@es:9200?spool=x]",
		`url: "http://u:p@h/x", other: https://h2/`:                   `url: "http://u:REDACTED@h/x", other: https://h2/`,
		"kafka:127.0.0.1:9092/flows":                                  "kafka:127.0.0.1:9092/flows",
		"http://user@host:9200/":                                      "http://user@host:9200/",
		"email a:b@c, no scheme":                                      "email a:b@c, no scheme",
	} {
		if got := RedactText(in); got != want {
			t.Errorf("RedactText(%q) = %q, want %q", in, got, want)
		}
	}
}
