// Package auth authenticates the orchestrator server's HTTP API: bearer
// tokens with a name and a role, a middleware that checks them together
// with the browser defenses (Host, Origin, Content-Type, nosniff), the
// server's generated token, the per-user index through which the CLI
// finds a local server's token, and the listen policy (TLS, mTLS,
// loopback).
//
// A token file (--token-file) holds one token a line:
//
//	# name  role   secret
//	alice   write  3f0c9a...
//	grafana read   9b77e1...
//
// Fields are separated by spaces or tabs; blank lines and lines starting
// with # are ignored. Names are letters, digits, '.', '_', '@' and '-';
// roles are read (GET and HEAD only) or write (everything); secrets are at
// least MinSecretLen characters without spaces.
package auth

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"github.com/elk-project/elk/orchestrator/statedir"
	"os"
	"path/filepath"
	"regexp"
	"strings"
)

// Role is what a token may do.
type Role string

// Roles.
const (
	// RoleRead may only read: GET and HEAD.
	RoleRead Role = "read"
	// RoleWrite may do everything, including deploying blueprints whose
	// generic entities run commands on the target.
	RoleWrite Role = "write"
)

// MinSecretLen is the shortest secret accepted.
const MinSecretLen = 16

// EnvTokenName names the token given by ELK_TOKEN.
const EnvTokenName = "env"

// GeneratedTokenName names the token the server generates.
const GeneratedTokenName = "local"

// TokenFileName is the generated token's file in the state directory.
const TokenFileName = "token"

// Token is one credential. Secret is never logged or printed.
type Token struct {
	Name   string
	Role   Role
	Secret string
}

// Identity is who made a request: the name and role of its token.
type Identity struct {
	Name string
	Role Role
}

var nameRE = regexp.MustCompile(`^[A-Za-z0-9._@-]{1,64}$`)

type entry struct {
	id  Identity
	sum [sha256.Size]byte
}

// Tokens is a set of tokens. Lookup compares hashes in constant time.
type Tokens struct {
	entries []entry
}

// NewTokens checks every token (name, role, secret length, duplicates) and
// returns the set; the error lists every problem.
func NewTokens(ts ...Token) (*Tokens, error) {
	var errs []error
	t := &Tokens{}
	names := map[string]bool{}
	sums := map[[sha256.Size]byte]bool{}
	for _, tok := range ts {
		if err := checkToken(tok); err != nil {
			errs = append(errs, err)
			continue
		}
		if names[tok.Name] {
			errs = append(errs, fmt.Errorf("token %q: name used twice", tok.Name))
			continue
		}
		sum := sha256.Sum256([]byte(tok.Secret))
		if sums[sum] {
			errs = append(errs, fmt.Errorf("token %q: same secret as another token", tok.Name))
			continue
		}
		names[tok.Name], sums[sum] = true, true
		t.entries = append(t.entries, entry{id: Identity{Name: tok.Name, Role: tok.Role}, sum: sum})
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	if len(t.entries) == 0 {
		return nil, errors.New("no tokens")
	}
	return t, nil
}

func checkToken(tok Token) error {
	var errs []error
	if !nameRE.MatchString(tok.Name) {
		errs = append(errs, fmt.Errorf("token name %q: want 1 to 64 letters, digits, '.', '_', '@' or '-'", tok.Name))
	}
	if tok.Role != RoleRead && tok.Role != RoleWrite {
		errs = append(errs, fmt.Errorf("token %q: role %q: want read or write", tok.Name, tok.Role))
	}
	if len(tok.Secret) < MinSecretLen {
		errs = append(errs, fmt.Errorf("token %q: secret shorter than %d characters", tok.Name, MinSecretLen))
	} else if strings.ContainsAny(tok.Secret, " \t\r\n") {
		errs = append(errs, fmt.Errorf("token %q: secret contains white space", tok.Name))
	}
	return errors.Join(errs...)
}

// Lookup returns the identity of the token whose secret is secret. It
// compares SHA-256 sums with crypto/subtle against every token, so neither
// the secret's length nor which token matched shows in the timing.
func (t *Tokens) Lookup(secret string) (Identity, bool) {
	sum := sha256.Sum256([]byte(secret))
	var found Identity
	match := 0
	for _, e := range t.entries {
		if subtle.ConstantTimeCompare(sum[:], e.sum[:]) == 1 {
			found, match = e.id, 1
		}
	}
	return found, match == 1
}

// Names lists the tokens' identities (for logs: never the secrets).
func (t *Tokens) Names() []Identity {
	out := make([]Identity, len(t.entries))
	for i, e := range t.entries {
		out[i] = e.id
	}
	return out
}

// ParseTokenFile reads the token file format (see the package comment);
// errors name file:line.
func ParseTokenFile(name string, data []byte) ([]Token, error) {
	var out []Token
	var errs []error
	sc := bufio.NewScanner(bytes.NewReader(data))
	line := 0
	for sc.Scan() {
		line++
		s := strings.TrimSpace(sc.Text())
		if s == "" || strings.HasPrefix(s, "#") {
			continue
		}
		f := strings.Fields(s)
		if len(f) != 3 {
			errs = append(errs, fmt.Errorf("%s:%d: want NAME ROLE SECRET, got %d fields", name, line, len(f)))
			continue
		}
		tok := Token{Name: f[0], Role: Role(f[1]), Secret: f[2]}
		if err := checkToken(tok); err != nil {
			errs = append(errs, fmt.Errorf("%s:%d: %w", name, line, err))
			continue
		}
		out = append(out, tok)
	}
	if err := sc.Err(); err != nil {
		errs = append(errs, fmt.Errorf("%s: %w", name, err))
	}
	if len(errs) == 0 && len(out) == 0 {
		errs = append(errs, fmt.Errorf("%s: no tokens", name))
	}
	return out, errors.Join(errs...)
}

// LoadTokenFile reads and parses a token file. A file that other users
// may read is refused: its secrets are no longer secret.
func LoadTokenFile(path string) ([]Token, error) {
	if err := checkPrivate(path); err != nil {
		return nil, err
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read token file: %w", err)
	}
	return ParseTokenFile(path, data)
}

func checkPrivate(path string) error {
	fi, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("token file: %w", err)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return fmt.Errorf("token file %s: mode %04o lets other users read it: chmod 600 it", path, fi.Mode().Perm())
	}
	return nil
}

// Generated returns the server's own write token, kept in
// stateDir/token: created at the first start (32 random bytes, hex, mode
// 0600, directory 0700), read again at later starts. created says which.
func Generated(stateDir string) (tok Token, path string, created bool, err error) {
	path = filepath.Join(stateDir, TokenFileName)
	if err := os.MkdirAll(stateDir, 0o700); err != nil {
		return Token{}, path, false, fmt.Errorf("token: %w", err)
	}
	if err := os.Chmod(stateDir, 0o700); err != nil {
		return Token{}, path, false, fmt.Errorf("token: %w", err)
	}
	secret, err := ReadSecretFile(path)
	switch {
	case err == nil:
		return Token{Name: GeneratedTokenName, Role: RoleWrite, Secret: secret}, path, false, nil
	case !errors.Is(err, os.ErrNotExist):
		return Token{}, path, false, err
	}
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return Token{}, path, false, fmt.Errorf("token: %w", err)
	}
	secret = hex.EncodeToString(b)
	if err := statedir.WriteFile(path, []byte(secret+"\n")); err != nil {
		return Token{}, path, false, fmt.Errorf("token: write %s: %w", path, err)
	}
	return Token{Name: GeneratedTokenName, Role: RoleWrite, Secret: secret}, path, true, nil
}

// ReadSecretFile reads a file holding one secret (the generated token
// file). A file other users may read is refused.
func ReadSecretFile(path string) (string, error) {
	if _, err := os.Stat(path); err != nil {
		return "", err
	}
	if err := checkPrivate(path); err != nil {
		return "", err
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("read token file: %w", err)
	}
	s := strings.TrimSpace(string(data))
	if len(s) < MinSecretLen || strings.ContainsAny(s, " \t\r\n") {
		return "", fmt.Errorf("token file %s: not a token (delete it and a new one is generated)", path)
	}
	return s, nil
}

// Sources say where a server's tokens come from.
type Sources struct {
	// File is a token file (--token-file).
	File string
	// Env is a write token named EnvTokenName (ELK_TOKEN).
	Env string
	// StateDir receives the generated token when neither File nor Env is
	// given.
	StateDir string
}

// Loaded is the outcome of Load.
type Loaded struct {
	Tokens *Tokens
	// GeneratedPath is the generated token's file ("" when File or Env
	// gave the tokens); Created says it was made by this call.
	GeneratedPath string
	Created       bool
	// Own is a write token the process itself may use (ELK_TOKEN or the
	// generated one); empty with only a token file.
	Own string
}

// Load gathers the server's tokens: the token file and ELK_TOKEN
// together, or, without either, the generated token of the state
// directory.
func Load(s Sources) (Loaded, error) {
	var ts []Token
	var out Loaded
	if s.File != "" {
		fts, err := LoadTokenFile(s.File)
		if err != nil {
			return out, err
		}
		ts = append(ts, fts...)
	}
	if s.Env != "" {
		ts = append(ts, Token{Name: EnvTokenName, Role: RoleWrite, Secret: s.Env})
		out.Own = s.Env
	}
	if len(ts) == 0 {
		if s.StateDir == "" {
			return out, errors.New("token: no token file, no ELK_TOKEN and no state directory to generate one in")
		}
		tok, path, created, err := Generated(s.StateDir)
		if err != nil {
			return out, err
		}
		ts = append(ts, tok)
		out.GeneratedPath, out.Created, out.Own = path, created, tok.Secret
	}
	t, err := NewTokens(ts...)
	if err != nil {
		if s.Env != "" && strings.Contains(err.Error(), `"`+EnvTokenName+`"`) {
			err = fmt.Errorf("ELK_TOKEN: %w", err)
		}
		return out, err
	}
	out.Tokens = t
	return out, nil
}
