package server

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/elk-project/elk/orchestrator"
	"github.com/elk-project/elk/orchestrator/catalog"
)

type counterPoint struct {
	t      time.Time
	values map[string]float64
}

// rates scrapes the instances of entities whose types have rate series and
// keeps the last rates per app/entity.
type rates struct {
	eng    *orchestrator.Engine
	client *http.Client
	every  time.Duration

	mu    sync.Mutex
	last  map[string]counterPoint       // app/entity
	rates map[string]map[string]float64 // app/entity
}

func newRates(eng *orchestrator.Engine) *rates {
	return &rates{eng: eng, client: &http.Client{Timeout: 2 * time.Second}, every: 2 * time.Second,
		last: map[string]counterPoint{}, rates: map[string]map[string]float64{}}
}

func (r *rates) run(ctx context.Context) {
	t := time.NewTicker(r.every)
	defer t.Stop()
	for {
		r.sample(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (r *rates) sample(ctx context.Context) {
	apps, err := r.eng.Apps(ctx)
	if err != nil {
		return
	}
	seen := map[string]bool{}
	for _, a := range apps {
		st, err := r.eng.Status(ctx, a)
		if err != nil {
			continue
		}
		for _, es := range st.Entities {
			series, ok := catalog.Rates(es.Type)
			if !ok {
				continue
			}
			key := a + "/" + es.ID
			seen[key] = true
			totals := map[string]float64{}
			for _, in := range es.Instances {
				port := in.Ports["metrics"]
				if port == 0 || in.State != "running" {
					continue
				}
				vals, err := r.scrape(ctx, fmt.Sprintf("http://%s:%d/metrics", in.Addr, port), series)
				if err != nil {
					continue
				}
				for k, v := range vals {
					totals[k] += v
				}
			}
			now := time.Now()
			r.mu.Lock()
			if prev, ok := r.last[key]; ok {
				dt := now.Sub(prev.t).Seconds()
				out := map[string]float64{}
				for name := range series {
					d := totals[name] - prev.values[name]
					if d < 0 { // an instance restarted or went away
						d = 0
					}
					if dt > 0 {
						out[name] = d / dt
					}
				}
				r.rates[key] = out
			}
			r.last[key] = counterPoint{t: now, values: totals}
			r.mu.Unlock()
		}
	}
	r.mu.Lock()
	for k := range r.last {
		if !seen[k] {
			delete(r.last, k)
			delete(r.rates, k)
		}
	}
	r.mu.Unlock()
}

// scrape sums the samples of each wanted metric family.
func (r *rates) scrape(ctx context.Context, url string, series map[string]string) (map[string]float64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := r.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		for rate, family := range series {
			if !strings.HasPrefix(line, family) {
				continue
			}
			rest := line[len(family):]
			if rest == "" || (rest[0] != ' ' && rest[0] != '{') {
				continue
			}
			fields := strings.Fields(rest[strings.LastIndexByte(rest, '}')+1:])
			if len(fields) == 0 {
				continue
			}
			if v, err := strconv.ParseFloat(fields[0], 64); err == nil {
				out[rate] += v
			}
		}
	}
	return out, sc.Err()
}

// annotate adds the last rates to a status.
func (r *rates) annotate(st *orchestrator.AppStatus) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for i := range st.Entities {
		if m, ok := r.rates[st.Name+"/"+st.Entities[i].ID]; ok {
			st.Entities[i].Rates = m
		}
	}
}
