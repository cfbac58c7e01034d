package engine

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/fsnotify/fsnotify"

	"github.com/elk-project/elk/policies"
)

// loadDir applies every policy file of cfg.Dir; any invalid file fails New
// so a broken policy directory is noticed at start.
func (e *Engine) loadDir() error {
	ents, err := os.ReadDir(e.cfg.Dir)
	if err != nil {
		return fmt.Errorf("read policy directory: %w", err)
	}
	var errs []error
	for _, de := range ents {
		if de.IsDir() || !isYAML(de.Name()) {
			continue
		}
		if err := e.loadFile(filepath.Join(e.cfg.Dir, de.Name())); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func (e *Engine) loadFile(path string) error {
	p, err := policies.Load(path)
	if err != nil {
		return err
	}
	_, err = e.apply(p, "file:"+filepath.Base(path), "file", path, false)
	return err
}

// watchDir re-applies policy files as they change. A file that fails to
// parse is logged and the running policy is untouched.
func (e *Engine) watchDir(ctx context.Context) {
	w, err := fsnotify.NewWatcher()
	if err != nil {
		e.log.Error("watch policy directory", "dir", e.cfg.Dir, "error", err)
		return
	}
	defer w.Close()
	if err := w.Add(e.cfg.Dir); err != nil {
		e.log.Error("watch policy directory", "dir", e.cfg.Dir, "error", err)
		return
	}
	// Editors write in bursts: settle for a moment before reading.
	pending := map[string]bool{}
	var settle <-chan time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case err := <-w.Errors:
			e.log.Warn("policy directory watch", "error", err)
		case ev := <-w.Events:
			if !isYAML(ev.Name) {
				continue
			}
			pending[ev.Name] = true
			settle = time.After(200 * time.Millisecond)
		case <-settle:
			for path := range pending {
				e.fileChanged(path)
			}
			pending = map[string]bool{}
		}
	}
}

func (e *Engine) fileChanged(path string) {
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		for _, k := range e.Keys() {
			en, err := e.get(k)
			if err != nil {
				continue
			}
			en.mu.Lock()
			file := en.file
			en.mu.Unlock()
			if file == path {
				app, entity, _ := strings.Cut(k, "/")
				e.log.Info("policy file removed", "policy", k, "file", path)
				e.Remove(app, entity)
			}
		}
		return
	}
	if err := e.loadFile(path); err != nil {
		e.log.Error("policy file rejected, running policy unchanged", "file", path, "error", err)
	}
}

// watchKV applies policies stored under cfg.KVPrefix (written by this or
// another elk server) as they change.
func (e *Engine) watchKV(ctx context.Context) {
	for {
		e.syncKV(ctx)
		select {
		case <-ctx.Done():
			return
		case <-e.clock.After(e.cfg.KVPoll):
		}
	}
}

func (e *Engine) syncKV(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, e.cfg.ReadTimeout)
	defer cancel()
	kvs, err := e.deps.KV.List(ctx, e.cfg.KVPrefix)
	if err != nil {
		e.log.Warn("read policies from KV", "prefix", e.cfg.KVPrefix, "error", err)
		return
	}
	for k, v := range kvs {
		key := strings.TrimPrefix(k, e.cfg.KVPrefix)
		p, err := policies.ParseBytes(k, v, true)
		if err != nil {
			e.log.Error("policy in KV rejected, running policy unchanged", "key", k, "error", err)
			continue
		}
		if p.Target.Key() != key {
			e.log.Error("policy in KV rejected: key and target differ", "key", k, "target", p.Target.Key())
			continue
		}
		if _, err := e.apply(p, "kv", "kv", "", false); err != nil {
			e.log.Error("policy in KV rejected, running policy unchanged", "key", k, "error", err)
		}
	}
	states, err := e.deps.KV.List(ctx, e.cfg.StatePrefix)
	if err != nil {
		e.log.Warn("read policy overrides from KV", "prefix", e.cfg.StatePrefix, "error", err)
		return
	}
	for k, v := range states {
		e.loadState(strings.TrimPrefix(k, e.cfg.StatePrefix), v)
	}
}
