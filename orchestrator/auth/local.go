package auth

import (
	"errors"
	"fmt"
	"github.com/elk-project/elk/orchestrator/statedir"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
)

// The local index lets the CLI find the token of a server on this
// machine without the operator typing it: a server that generated its
// token writes, per listen address, a small file naming the token file
// (never the secret) into IndexDir; the CLI reads the entry for the
// address it talks to and then the token file.

// IndexDir is the per-user directory of the local index:
// $XDG_RUNTIME_DIR/elk/servers when XDG_RUNTIME_DIR is set, else
// servers under os.UserConfigDir()/elk (~/.config/elk/servers).
func IndexDir(getenv func(string) string) (string, error) {
	if d := getenv("XDG_RUNTIME_DIR"); d != "" {
		return filepath.Join(d, "elk", "servers"), nil
	}
	if d := getenv("XDG_CONFIG_HOME"); d != "" {
		return filepath.Join(d, "elk", "servers"), nil
	}
	h := getenv("HOME")
	if h == "" {
		return "", errors.New("local token index: neither XDG_RUNTIME_DIR nor HOME is set")
	}
	return filepath.Join(h, ".config", "elk", "servers"), nil
}

// indexKey names the entry of a server address (a URL or host:port). A
// loopback or wildcard host is "loopback": 127.0.0.1, localhost and [::1]
// reach the same server.
func indexKey(addr string) (string, error) {
	hp := addr
	if strings.Contains(addr, "://") {
		u, err := url.Parse(addr)
		if err != nil {
			return "", fmt.Errorf("server address %q: %w", addr, err)
		}
		hp = u.Host
		if u.Port() == "" {
			port := "80"
			if u.Scheme == "https" {
				port = "443"
			}
			hp = net.JoinHostPort(u.Hostname(), port)
		}
	}
	h, p, err := net.SplitHostPort(hp)
	if err != nil {
		return "", fmt.Errorf("server address %q: %w", addr, err)
	}
	h = strings.ToLower(h)
	if ip := net.ParseIP(h); h == "" || h == "localhost" || (ip != nil && (ip.IsLoopback() || ip.IsUnspecified())) {
		h = "loopback"
	}
	key := h + "_" + p
	if strings.ContainsAny(key, `/\`) || strings.HasPrefix(key, ".") {
		return "", fmt.Errorf("server address %q: not a host:port", addr)
	}
	return strings.ReplaceAll(key, ":", "_"), nil
}

// Publish records in the local index that the server at addr keeps its
// token in tokenPath, and returns a function removing the entry (if it
// still names tokenPath).
func Publish(getenv func(string) string, addr, tokenPath string) (remove func(), err error) {
	dir, err := IndexDir(getenv)
	if err != nil {
		return nil, err
	}
	key, err := indexKey(addr)
	if err != nil {
		return nil, err
	}
	abs, err := filepath.Abs(tokenPath)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("local token index: %w", err)
	}
	path := filepath.Join(dir, key)
	if err := statedir.WriteFile(path, []byte(abs+"\n")); err != nil {
		return nil, fmt.Errorf("local token index: %w", err)
	}
	return func() {
		if b, err := os.ReadFile(path); err == nil && strings.TrimSpace(string(b)) == abs {
			os.Remove(path)
		}
	}, nil
}

// LookupLocal returns the token of the local server at addr from the
// local index; ok is false when there is no entry (or its token file is
// gone: the server has stopped).
func LookupLocal(getenv func(string) string, addr string) (secret string, ok bool, err error) {
	dir, err := IndexDir(getenv)
	if err != nil {
		return "", false, nil
	}
	key, err := indexKey(addr)
	if err != nil {
		return "", false, err
	}
	b, err := os.ReadFile(filepath.Join(dir, key))
	if errors.Is(err, os.ErrNotExist) {
		return "", false, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("local token index: %w", err)
	}
	secret, err = ReadSecretFile(strings.TrimSpace(string(b)))
	if errors.Is(err, os.ErrNotExist) {
		return "", false, nil
	}
	if err != nil {
		return "", false, err
	}
	return secret, true, nil
}
