package embedded

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	"github.com/elk-project/elk/orchestrator/kv"
	"github.com/elk-project/elk/orchestrator/statedir"
)

// kvSuffix marks value files so that a key and a longer key below it
// ("apps/a" and "apps/a/b") never collide as file and directory.
const kvSuffix = ".kv"

// DirKV is a kv.KV kept in a directory: one file per key, written
// atomically (temporary file, fsync, rename). Each file starts with the
// key's modify index on its own line. One process uses a directory at a
// time.
type DirKV struct {
	dir   string
	mu    sync.Mutex
	index uint64
}

var _ kv.KV = (*DirKV)(nil)

// errNotFound is kv.ErrNotFound (the methods' receiver shadows the package).
var errNotFound = kv.ErrNotFound

// NewDirKV opens (creating it if needed) the store in dir.
func NewDirKV(dir string) (*DirKV, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("open kv %s: %w", dir, err)
	}
	kv := &DirKV{dir: dir}
	// Resume the index above every stored one.
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(p, kvSuffix) {
			return err
		}
		_, idx, err := readKVFile(p)
		if err == nil && idx > kv.index {
			kv.index = idx
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("open kv %s: %w", dir, err)
	}
	return kv, nil
}

func (kv *DirKV) path(key string) (string, error) {
	if key == "" || strings.HasPrefix(key, "/") || strings.HasSuffix(key, "/") {
		return "", fmt.Errorf("kv key %q: must be non-empty without leading or trailing /", key)
	}
	parts := strings.Split(key, "/")
	for i, p := range parts {
		if p == "" {
			return "", fmt.Errorf("kv key %q: empty segment", key)
		}
		parts[i] = url.PathEscape(p)
		if parts[i] == "." || parts[i] == ".." {
			parts[i] = strings.ReplaceAll(parts[i], ".", "%2E")
		}
	}
	return filepath.Join(kv.dir, filepath.Join(parts...)+kvSuffix), nil
}

func readKVFile(p string) ([]byte, uint64, error) {
	b, err := os.ReadFile(p)
	if err != nil {
		return nil, 0, err
	}
	line, rest, ok := bytes.Cut(b, []byte("\n"))
	if !ok {
		return nil, 0, fmt.Errorf("kv file %s: no index line", p)
	}
	idx, err := strconv.ParseUint(string(line), 10, 64)
	if err != nil {
		return nil, 0, fmt.Errorf("kv file %s: index: %w", p, err)
	}
	return rest, idx, nil
}

// Get returns the value and modify index of key.
func (kv *DirKV) Get(ctx context.Context, key string) ([]byte, uint64, error) {
	p, err := kv.path(key)
	if err != nil {
		return nil, 0, err
	}
	kv.mu.Lock()
	defer kv.mu.Unlock()
	v, idx, err := readKVFile(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, 0, fmt.Errorf("get %q: %w", key, errNotFound)
	}
	if err != nil {
		return nil, 0, fmt.Errorf("get %q: %w", key, err)
	}
	return v, idx, nil
}

// Put writes key unconditionally.
func (kv *DirKV) Put(ctx context.Context, key string, value []byte) error {
	p, err := kv.path(key)
	if err != nil {
		return err
	}
	kv.mu.Lock()
	defer kv.mu.Unlock()
	return kv.write(p, value)
}

// write stores value with a new index; kv.mu must be held.
func (kv *DirKV) write(p string, value []byte) error {
	idx := kv.index + 1
	err := statedir.WriteFunc(p, func(f *os.File) error {
		if _, err := fmt.Fprintf(f, "%d\n", idx); err != nil {
			return err
		}
		_, err := f.Write(value)
		return err
	})
	if err != nil {
		return fmt.Errorf("kv write %s: %w", p, err)
	}
	kv.index = idx
	return nil
}

// CAS writes key only if its modify index is still index (0: the key must
// not exist).
func (kv *DirKV) CAS(ctx context.Context, key string, value []byte, index uint64) (bool, error) {
	p, err := kv.path(key)
	if err != nil {
		return false, err
	}
	kv.mu.Lock()
	defer kv.mu.Unlock()
	_, cur, err := readKVFile(p)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if index != 0 {
			return false, nil
		}
	case err != nil:
		return false, fmt.Errorf("cas %q: %w", key, err)
	case cur != index:
		return false, nil
	}
	if err := kv.write(p, value); err != nil {
		return false, err
	}
	return true, nil
}

// Delete removes key; a missing key is not an error.
func (kv *DirKV) Delete(ctx context.Context, key string) error {
	p, err := kv.path(key)
	if err != nil {
		return err
	}
	kv.mu.Lock()
	defer kv.mu.Unlock()
	if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("delete %q: %w", key, err)
	}
	return nil
}

// List returns every key starting with prefix and its value.
func (kv *DirKV) List(ctx context.Context, prefix string) (map[string][]byte, error) {
	kv.mu.Lock()
	defer kv.mu.Unlock()
	out := map[string][]byte{}
	// Walk from the deepest directory the prefix names entirely.
	root := kv.dir
	if i := strings.LastIndex(prefix, "/"); i > 0 {
		if p, err := kv.path(prefix[:i] + "/x"); err == nil {
			root = filepath.Dir(p)
		}
	}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if d.IsDir() || !strings.HasSuffix(p, kvSuffix) {
			return nil
		}
		rel, err := filepath.Rel(kv.dir, strings.TrimSuffix(p, kvSuffix))
		if err != nil {
			return err
		}
		parts := strings.Split(filepath.ToSlash(rel), "/")
		for i, s := range parts {
			if u, err := url.PathUnescape(s); err == nil {
				parts[i] = u
			}
		}
		key := strings.Join(parts, "/")
		if !strings.HasPrefix(key, prefix) {
			return nil
		}
		v, _, err := readKVFile(p)
		if err != nil {
			return nil
		}
		out[key] = v
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list %q: %w", prefix, err)
	}
	return out, nil
}
