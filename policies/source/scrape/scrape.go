// Package scrape is elk's built-in metric source: it scrapes the /metrics
// endpoints of an entity's instances itself and computes gauges and rate()
// of counters, so policies work on the local target without a Prometheus
// server.
package scrape

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/elk-project/elk/policies"
	"github.com/elk-project/elk/policies/source"
)

// Targets lists the /metrics URLs of an entity's instances (e.g.
// http://127.0.0.1:9101/metrics). An entity without instances has none.
type Targets interface {
	Targets(ctx context.Context, app, entity string) ([]string, error)
}

// TargetsFunc adapts a function to Targets.
type TargetsFunc func(ctx context.Context, app, entity string) ([]string, error)

// Targets implements Targets.
func (f TargetsFunc) Targets(ctx context.Context, app, entity string) ([]string, error) {
	return f(ctx, app, entity)
}

// Config configures the scraper.
type Config struct {
	Interval time.Duration // between scrapes (default 5s)
	Timeout  time.Duration // per scrape (default Interval)
	// Idle drops a metric that no policy read for this long (default 10m).
	Idle time.Duration
}

// Scraper scrapes the instances of every entity some policy reads and
// keeps enough history per instance for the longest rate window asked.
type Scraper struct {
	cfg     Config
	targets Targets
	http    *http.Client
	log     *slog.Logger
	now     func() time.Time

	mu     sync.Mutex
	groups map[string]*group // app/entity
	kick   chan struct{}
}

type group struct {
	app, entity string
	metrics     map[string]*tracked // by expression
	instances   map[string]*instance
	lastErr     error
	lastOK      time.Time
	scraped     bool
}

type tracked struct {
	m        policies.Metric
	lastRead time.Time
}

type point struct {
	at time.Time
	v  float64
}

type instance struct {
	points map[string][]point // per expression: summed matching series
	failed bool               // the last scrape failed: its values are not current
}

// New returns a scraper; Run scrapes.
func New(cfg Config, targets Targets, client *http.Client, logger *slog.Logger) *Scraper {
	if cfg.Interval <= 0 {
		cfg.Interval = 5 * time.Second
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = cfg.Interval
	}
	if cfg.Idle <= 0 {
		cfg.Idle = 10 * time.Minute
	}
	if client == nil {
		client = &http.Client{}
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Scraper{cfg: cfg, targets: targets, http: client, log: logger, now: time.Now,
		groups: map[string]*group{}, kick: make(chan struct{}, 1)}
}

// Run scrapes every interval until ctx ends.
func (s *Scraper) Run(ctx context.Context) error {
	t := time.NewTicker(s.cfg.Interval)
	defer t.Stop()
	for {
		s.ScrapeOnce(ctx)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		case <-s.kick:
		}
	}
}

// ScrapeOnce scrapes every instance of every tracked entity once.
func (s *Scraper) ScrapeOnce(ctx context.Context) {
	s.mu.Lock()
	now := s.now()
	var gs []*group
	for k, g := range s.groups {
		for e, tr := range g.metrics {
			if now.Sub(tr.lastRead) > s.cfg.Idle {
				delete(g.metrics, e)
			}
		}
		if len(g.metrics) == 0 {
			delete(s.groups, k)
			continue
		}
		gs = append(gs, g)
	}
	s.mu.Unlock()
	var wg sync.WaitGroup
	for _, g := range gs {
		wg.Add(1)
		go func() { defer wg.Done(); s.scrapeGroup(ctx, g) }()
	}
	wg.Wait()
}

type result struct {
	url    string
	values map[string]float64
	err    error
}

func (s *Scraper) scrapeGroup(ctx context.Context, g *group) {
	urls, err := s.targets.Targets(ctx, g.app, g.entity)
	if err != nil {
		s.mu.Lock()
		g.lastErr = fmt.Errorf("list instances of %s/%s: %w", g.app, g.entity, err)
		s.mu.Unlock()
		return
	}
	s.mu.Lock()
	exprs := make(map[string]policies.Metric, len(g.metrics))
	for e, tr := range g.metrics {
		exprs[e] = tr.m
	}
	s.mu.Unlock()

	results := make([]result, len(urls))
	var wg sync.WaitGroup
	for i, u := range urls {
		wg.Add(1)
		go func() {
			defer wg.Done()
			vals, err := s.scrapeOne(ctx, u, exprs)
			results[i] = result{u, vals, err}
		}()
	}
	wg.Wait()

	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	g.scraped = true
	seen := map[string]bool{}
	var errs []error
	ok := 0
	for _, r := range results {
		seen[r.url] = true
		in := g.instances[r.url]
		if in == nil {
			in = &instance{points: map[string][]point{}}
			g.instances[r.url] = in
		}
		in.failed = r.err != nil
		if r.err != nil {
			errs = append(errs, r.err)
			continue
		}
		ok++
		for e, v := range r.values {
			keep := exprs[e].Window + 2*s.cfg.Interval
			pts := append(in.points[e], point{now, v})
			cut := 0
			for cut < len(pts)-1 && now.Sub(pts[cut].at) > keep {
				cut++
			}
			in.points[e] = append(pts[:0], pts[cut:]...)
		}
	}
	for u := range g.instances {
		if !seen[u] {
			delete(g.instances, u) // instance gone
		}
	}
	switch {
	case len(urls) > 0 && ok == 0:
		g.lastErr = errors.Join(errs...)
	default:
		g.lastErr = nil
		g.lastOK = now
		for _, err := range errs {
			s.log.Debug("scrape instance", "app", g.app, "entity", g.entity, "error", err)
		}
	}
}

func (s *Scraper) scrapeOne(ctx context.Context, url string, exprs map[string]policies.Metric) (map[string]float64, error) {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "text/plain;version=0.0.4")
	resp, err := s.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("scrape %s: %w", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("scrape %s: %s", url, resp.Status)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return nil, fmt.Errorf("scrape %s: %w", url, err)
	}
	return sumMatching(body, exprs), nil
}

// Read implements source.Source for built-in metrics. The first read of a
// metric starts tracking it and returns ErrNoData until enough scrapes are
// in (two within the window for a rate).
func (s *Scraper) Read(ctx context.Context, q source.Query) (source.Sample, error) {
	m, err := policies.ParseMetric(q.Check.Metric)
	if err != nil {
		return source.Sample{}, err
	}
	entity := q.Entity
	if q.Check.From != "" {
		entity = q.Check.From
	}
	key := q.App + "/" + entity
	expr := q.Check.Metric
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	g := s.groups[key]
	if g == nil {
		g = &group{app: q.App, entity: entity, metrics: map[string]*tracked{}, instances: map[string]*instance{}}
		s.groups[key] = g
	}
	tr := g.metrics[expr]
	if tr == nil {
		tr = &tracked{m: m}
		g.metrics[expr] = tr
		select {
		case s.kick <- struct{}{}:
		default:
		}
	}
	tr.lastRead = now
	if g.lastErr != nil {
		return source.Sample{}, g.lastErr
	}
	if !g.scraped {
		return source.Sample{}, fmt.Errorf("%s of %s: not scraped yet: %w", expr, key, source.ErrNoData)
	}
	if len(g.instances) == 0 {
		return source.Sample{}, fmt.Errorf("%s of %s: no instances: %w", expr, key, source.ErrNoData)
	}
	var total float64
	var latest time.Time
	used := 0
	for _, in := range g.instances {
		pts := in.points[expr]
		if len(pts) == 0 || in.failed {
			continue
		}
		last := pts[len(pts)-1]
		if !m.Rate {
			total += last.v
			used++
			latest = maxTime(latest, last.at)
			continue
		}
		// rate(): increase over the window, counter resets handled, divided
		// by the time the samples span.
		from := last.at.Add(-m.Window)
		first := len(pts) - 1
		for first > 0 && !pts[first-1].at.Before(from) {
			first--
		}
		if first == len(pts)-1 {
			continue // one point: no rate yet (a new instance)
		}
		inc := 0.0
		for i := first + 1; i < len(pts); i++ {
			d := pts[i].v - pts[i-1].v
			if d < 0 {
				d = pts[i].v // reset
			}
			inc += d
		}
		total += inc / last.at.Sub(pts[first].at).Seconds()
		used++
		latest = maxTime(latest, last.at)
	}
	if used == 0 {
		return source.Sample{}, fmt.Errorf("%s of %s: not enough samples yet: %w", expr, key, source.ErrNoData)
	}
	// An exporter's NaN or ±Inf, or a sum that overflowed, is missing data,
	// never a reading a strategy could turn into a vote.
	return source.Finite(source.Sample{Value: total, Time: latest}, nil)
}

func maxTime(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// sumMatching parses the Prometheus text format and sums, per expression,
// the samples of its metric whose labels match.
func sumMatching(body []byte, exprs map[string]policies.Metric) map[string]float64 {
	out := make(map[string]float64, len(exprs))
	byName := map[string][]string{}
	for e, m := range exprs {
		byName[m.Name] = append(byName[m.Name], e)
	}
	for line := range strings.SplitSeq(string(body), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || line[0] == '#' {
			continue
		}
		name, labels, value, ok := parseLine(line)
		if !ok {
			continue
		}
		for _, e := range byName[name] {
			if matches(exprs[e].Labels, labels) {
				out[e] += value
			}
		}
	}
	return out
}

func matches(want, have map[string]string) bool {
	for k, v := range want {
		if have[k] != v {
			return false
		}
	}
	return true
}

// parseLine parses `name{l="v",...} value [timestamp]`.
func parseLine(line string) (name string, labels map[string]string, value float64, ok bool) {
	i := strings.IndexAny(line, "{ \t")
	if i < 0 {
		return "", nil, 0, false
	}
	name, rest := line[:i], line[i:]
	if rest[0] == '{' {
		labels = map[string]string{}
		j := 1
		for {
			for j < len(rest) && (rest[j] == ' ' || rest[j] == ',') {
				j++
			}
			if j >= len(rest) {
				return "", nil, 0, false
			}
			if rest[j] == '}' {
				j++
				break
			}
			eq := strings.IndexByte(rest[j:], '=')
			if eq < 0 || j+eq+1 >= len(rest) || rest[j+eq+1] != '"' {
				return "", nil, 0, false
			}
			key := strings.TrimSpace(rest[j : j+eq])
			k := j + eq + 2
			var val strings.Builder
			for k < len(rest) && rest[k] != '"' {
				if rest[k] == '\\' && k+1 < len(rest) {
					k++
					switch rest[k] {
					case 'n':
						val.WriteByte('\n')
					default:
						val.WriteByte(rest[k])
					}
				} else {
					val.WriteByte(rest[k])
				}
				k++
			}
			if k >= len(rest) {
				return "", nil, 0, false
			}
			labels[key] = val.String()
			j = k + 1
		}
		rest = rest[j:]
	}
	fields := strings.Fields(rest)
	if len(fields) == 0 {
		return "", nil, 0, false
	}
	v, err := parseFloat(fields[0])
	if err != nil {
		return "", nil, 0, false
	}
	return name, labels, v, true
}

// Tracked lists the app/entity groups being scraped (for status pages).
func (s *Scraper) Tracked() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for k := range s.groups {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
