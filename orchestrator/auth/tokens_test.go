package auth

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func TestGeneratedTokenIsPrivateAndReused(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	a, path, created, err := Generated(dir)
	if err != nil || !created {
		t.Fatalf("first start: created %v, error %v", created, err)
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("token file mode %v (%v), want 0600", fi.Mode().Perm(), err)
	}
	if di, _ := os.Stat(dir); di.Mode().Perm() != 0o700 {
		t.Errorf("state directory mode %v, want 0700", di.Mode().Perm())
	}
	if len(a.Secret) != 64 {
		t.Errorf("secret of %d characters, want 64 hex", len(a.Secret))
	}
	b, _, created, err := Generated(dir)
	if err != nil || created || b.Secret != a.Secret {
		t.Fatalf("second start: created %v, same %v, error %v", created, b.Secret == a.Secret, err)
	}
}

func TestCheckListen(t *testing.T) {
	cases := []struct {
		name          string
		listen        string
		tls, insecure bool
		refused       bool
	}{
		{name: "loopback", listen: "127.0.0.1:7878"},
		{name: "localhost", listen: "localhost:7878"},
		{name: "ipv6 loopback", listen: "[::1]:7878"},
		{name: "wildcard", listen: "0.0.0.0:7878", refused: true},
		{name: "empty host", listen: ":7878", refused: true},
		{name: "wildcard insecure", listen: "0.0.0.0:7878", insecure: true},
		{name: "wildcard tls", listen: "0.0.0.0:7878", tls: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := CheckListen(tc.listen, tc.tls, tc.insecure)
			if got := errors.Is(err, ErrInsecureListen); got != tc.refused {
				t.Errorf("refused %v (%v), want %v", got, err, tc.refused)
			}
		})
	}
}
