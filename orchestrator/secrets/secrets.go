// Package secrets keeps credentials out of what elk writes down: a Keyring
// seals the values it persists (AES-256-GCM, key in its own 0600 file, as
// Nomad's keyring does for Variables), and RedactText blanks the passwords
// of URLs in text that is stored or shown.
package secrets

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"regexp"
	"strings"

	"github.com/elk-project/elk/orchestrator/statedir"
)

// sealedPrefix marks a sealed value; what follows is base64(nonce ||
// ciphertext).
const sealedPrefix = "elk-sealed:v1:"

// Redacted replaces a secret where it is shown.
const Redacted = "REDACTED"

// ErrNoKey is returned when opening a sealed value without a keyring, or
// with another one than sealed it.
var ErrNoKey = errors.New("sealed value: not this keyring's")

// Keyring seals and opens values with one key.
type Keyring struct {
	aead cipher.AEAD
}

// LoadOrCreate reads the key at path, or generates one there (mode 0600)
// when the file does not exist.
func LoadOrCreate(path string) (*Keyring, error) {
	key, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		key = make([]byte, 32)
		if _, err := rand.Read(key); err != nil {
			return nil, err
		}
		if err := statedir.WriteFile(path, key); err != nil {
			return nil, fmt.Errorf("keyring: %w", err)
		}
	} else if err != nil {
		return nil, fmt.Errorf("keyring: %w", err)
	}
	if len(key) != 32 {
		return nil, fmt.Errorf("keyring %s: %d bytes, want 32", path, len(key))
	}
	return New(key)
}

// New makes a keyring of a 32-byte key.
func New(key []byte) (*Keyring, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	return &Keyring{aead: aead}, nil
}

// Seal returns v encrypted, marked as sealed. A nil keyring returns v.
func (k *Keyring) Seal(v string) (string, error) {
	if k == nil || IsSealed(v) {
		return v, nil
	}
	nonce := make([]byte, k.aead.NonceSize(), k.aead.NonceSize()+len(v)+k.aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		return "", err
	}
	return sealedPrefix + base64.RawStdEncoding.EncodeToString(k.aead.Seal(nonce, nonce, []byte(v), nil)), nil
}

// Open returns the plain value of a sealed one; a value that is not sealed
// is returned as it is.
func (k *Keyring) Open(v string) (string, error) {
	rest, ok := strings.CutPrefix(v, sealedPrefix)
	if !ok {
		return v, nil
	}
	if k == nil {
		return "", ErrNoKey
	}
	b, err := base64.RawStdEncoding.DecodeString(rest)
	n := k.aead.NonceSize()
	if err != nil || len(b) < n {
		return "", errors.New("sealed value: malformed")
	}
	plain, err := k.aead.Open(nil, b[:n], b[n:], nil)
	if err != nil {
		return "", ErrNoKey
	}
	return string(plain), nil
}

// IsSealed says whether v is a sealed value.
func IsSealed(v string) bool { return strings.HasPrefix(v, sealedPrefix) }

// SealMap returns a copy of m with every value sealed.
func (k *Keyring) SealMap(m map[string]string) (map[string]string, error) {
	return mapValues(m, k.Seal)
}

// OpenMap returns a copy of m with every sealed value opened.
func (k *Keyring) OpenMap(m map[string]string) (map[string]string, error) {
	return mapValues(m, k.Open)
}

func mapValues(m map[string]string, f func(string) (string, error)) (map[string]string, error) {
	if m == nil {
		return nil, nil
	}
	out := make(map[string]string, len(m))
	for name, v := range m {
		w, err := f(v)
		if err != nil {
			return nil, fmt.Errorf("secret %s: %w", name, err)
		}
		out[name] = w
	}
	return out, nil
}

// RedactMap returns a copy of m with every value replaced by Redacted.
func RedactMap(m map[string]string) map[string]string {
	if m == nil {
		return nil
	}
	out := make(map[string]string, len(m))
	for name := range m {
		out[name] = Redacted
	}
	return out
}

// urlPassword matches the password of a URL's userinfo: scheme://user:PASSWORD@.
var urlPassword = regexp.MustCompile(`([A-Za-z][A-Za-z0-9+.-]*://[^/?#@\s:"']*:)([^/?#@\s"']+)@`)

// RedactText replaces the password of every URL in s by Redacted, keeping
// the rest of s (a blueprint stays valid YAML and keeps its line numbers).
func RedactText(s string) string {
	return urlPassword.ReplaceAllString(s, "${1}"+Redacted+"@")
}
