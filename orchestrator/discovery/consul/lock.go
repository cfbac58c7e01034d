package consul

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/hashicorp/consul/api"
)

// LockConfig configures a Lock.
type LockConfig struct {
	// Key is the lock's KV key (with the Config's KVPrefix).
	Key string
	// Value identifies the holder (e.g. the server's address); it is
	// written to the key while the lock is held.
	Value []byte
	// TTL of the session; it is renewed every TTL/2. Default 15s. When the
	// holder dies the lock frees after at most TTL (plus Consul's lock
	// delay, LockDelay, default 1s).
	TTL       time.Duration
	LockDelay time.Duration
	// SessionName names the session; default "elk-lock".
	SessionName string
}

// Lock is a leader-election lock: a Consul session with a TTL holding a KV
// key. Use Acquire to become leader and the returned context to learn when
// leadership is lost.
type Lock struct {
	cfg  Config
	lc   LockConfig
	c    *api.Client
	key  string
	mu   sync.Mutex
	sess string
	stop context.CancelFunc
	done chan struct{}
}

// ErrLockHeld is returned by TryAcquire when another session holds the lock.
var ErrLockHeld = errors.New("lock held by another session")

// NewLock returns a lock on lc.Key.
func NewLock(cfg Config, lc LockConfig) (*Lock, error) {
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	if lc.Key == "" {
		return nil, errors.New("lock: key is required")
	}
	if lc.TTL == 0 {
		lc.TTL = 15 * time.Second
	}
	if lc.TTL < 10*time.Second {
		return nil, fmt.Errorf("lock: ttl %v is below Consul's minimum of 10s", lc.TTL)
	}
	if lc.LockDelay == 0 {
		lc.LockDelay = time.Second
	}
	if lc.SessionName == "" {
		lc.SessionName = "elk-lock"
	}
	return &Lock{cfg: cfg, lc: lc, c: cfg.Client, key: cfg.KVPrefix + lc.Key}, nil
}

// session returns the lock's session, creating it when needed.
func (l *Lock) session(ctx context.Context) (string, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.sess != "" {
		return l.sess, nil
	}
	id, _, err := l.c.Session().Create(&api.SessionEntry{
		Name:      l.lc.SessionName,
		TTL:       l.lc.TTL.String(),
		Behavior:  api.SessionBehaviorRelease,
		LockDelay: l.lc.LockDelay,
	}, wo(ctx))
	if err != nil {
		return "", fmt.Errorf("create session: %w", err)
	}
	l.sess = id
	return id, nil
}

// TryAcquire tries once to take the lock. On success it returns a context
// that is cancelled when the lock is lost (session expired, key taken or
// deleted) or released; otherwise ErrLockHeld.
func (l *Lock) TryAcquire(ctx context.Context) (context.Context, error) {
	id, err := l.session(ctx)
	if err != nil {
		return nil, err
	}
	ok, _, err := l.c.KV().Acquire(&api.KVPair{Key: l.key, Value: l.lc.Value, Session: id}, wo(ctx))
	if err != nil {
		if statusCode(err) == 500 && bytes.Contains([]byte(err.Error()), []byte("invalid session")) {
			l.forget(id) // expired: the next try creates a new one
		}
		return nil, fmt.Errorf("acquire lock %q: %w", l.key, err)
	}
	if !ok {
		return nil, fmt.Errorf("acquire lock %q: %w", l.key, ErrLockHeld)
	}
	return l.hold(id), nil
}

func (l *Lock) forget(id string) {
	l.mu.Lock()
	if l.sess == id {
		l.sess = ""
	}
	l.mu.Unlock()
}

// Acquire blocks until the lock is taken or ctx ends, waiting on the key
// with blocking queries between attempts.
func (l *Lock) Acquire(ctx context.Context) (context.Context, error) {
	backoff := l.cfg.BackoffMin
	var index uint64
	for {
		held, err := l.TryAcquire(ctx)
		if err == nil {
			return held, nil
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if !errors.Is(err, ErrLockHeld) {
			l.cfg.Logger.Warn("acquire lock: retrying", "key", l.key, "in", backoff, "error", err)
			select {
			case <-ctx.Done():
				return nil, ctx.Err()
			case <-l.cfg.After(backoff):
			}
			backoff = min(2*backoff, l.cfg.BackoffMax)
			continue
		}
		backoff = l.cfg.BackoffMin
		// Wait for the holder to change, then try again.
		q := qo(ctx)
		q.WaitIndex, q.WaitTime = index, l.cfg.WatchWait
		p, meta, err := l.c.KV().Get(l.key, q)
		switch {
		case ctx.Err() != nil:
			return nil, ctx.Err()
		case err != nil:
			index = 0
		case p != nil && p.Session != "" && meta.LastIndex > index:
			index = meta.LastIndex
		default:
			// Free: wait out the lock delay before trying.
			index = 0
			select {
			case <-ctx.Done():
				return nil, ctx.Err()
			case <-l.cfg.After(l.lc.LockDelay):
			}
		}
	}
}

// hold keeps the session alive and watches the key until the lock is lost
// or released; the returned context ends then.
func (l *Lock) hold(id string) context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	l.mu.Lock()
	l.stop, l.done = cancel, done
	l.mu.Unlock()
	var wg sync.WaitGroup
	wg.Go(func() {
		defer cancel()
		stopRenew := make(chan struct{})
		defer close(stopRenew)
		renewErr := make(chan error, 1)
		go func() { renewErr <- l.c.Session().RenewPeriodic(l.lc.TTL.String(), id, wo(ctx), stopRenew) }()
		var index uint64
		for {
			select {
			case err := <-renewErr:
				l.cfg.Logger.Warn("lock lost: session not renewed", "key", l.key, "error", err)
				l.forget(id)
				return
			default:
			}
			q := qo(ctx)
			q.WaitIndex, q.WaitTime = index, l.cfg.WatchWait
			p, meta, err := l.c.KV().Get(l.key, q)
			if ctx.Err() != nil {
				return
			}
			if err != nil {
				select {
				case <-ctx.Done():
					return
				case <-l.cfg.After(l.cfg.BackoffMin):
				}
				continue
			}
			if p == nil || p.Session != id {
				l.cfg.Logger.Warn("lock lost", "key", l.key)
				return
			}
			index = meta.LastIndex
		}
	})
	go func() { wg.Wait(); close(done) }()
	return ctx
}

// Release gives the lock up and destroys the session.
func (l *Lock) Release(ctx context.Context) error {
	l.mu.Lock()
	id, stop, done := l.sess, l.stop, l.done
	l.sess, l.stop, l.done = "", nil, nil
	l.mu.Unlock()
	if stop != nil {
		stop()
		<-done
	}
	if id == "" {
		return nil
	}
	var errs []error
	if _, _, err := l.c.KV().Release(&api.KVPair{Key: l.key, Session: id}, wo(ctx)); err != nil {
		errs = append(errs, fmt.Errorf("release lock %q: %w", l.key, err))
	}
	if _, err := l.c.Session().Destroy(id, wo(ctx)); err != nil {
		errs = append(errs, fmt.Errorf("destroy session: %w", err))
	}
	return errors.Join(errs...)
}
