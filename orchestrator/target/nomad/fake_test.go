package nomad

import (
	"encoding/json"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/elk-project/elk/orchestrator/internal/replay"
)

// fakeNomad is a Nomad that remembers jobs: what is registered can be read,
// listed and purged again, so a test can deploy several entities and see
// what each one's removal leaves. Its answers are the recorded ones (the
// register and purge responses, a job list entry) with the job's own ID
// and meta put in.
type fakeNomad struct {
	t        *testing.T
	srv      *httptest.Server
	register replay.Response
	purge    replay.Response
	stub     map[string]any // a recorded job list entry

	mu      sync.Mutex
	jobs    map[string]json.RawMessage // by ID, as registered
	deletes []string                   // IDs purged, in order
}

func newFakeNomad(t *testing.T) *fakeNomad {
	f := &fakeNomad{t: t, jobs: map[string]json.RawMessage{},
		register: loadFixture(t, "job-register"), purge: loadFixture(t, "job-deregister-purge")}
	var list []map[string]any
	if err := json.Unmarshal(loadFixture(t, "jobs-list").Body, &list); err != nil || len(list) == 0 {
		t.Fatalf("jobs-list fixture: %v", err)
	}
	f.stub = list[0]
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeNomad) URL() string { return f.srv.URL }

func (f *fakeNomad) reply(w http.ResponseWriter, r replay.Response) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Nomad-Index", r.Header.Get("X-Nomad-Index"))
	w.Write(r.Body)
}

func (f *fakeNomad) serve(w http.ResponseWriter, req *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	id, isJob := strings.CutPrefix(req.URL.Path, "/v1/job/")
	switch {
	case (req.Method == http.MethodPut || req.Method == http.MethodPost) && req.URL.Path == "/v1/jobs":
		var body struct{ Job json.RawMessage }
		var job struct{ ID string }
		data, _ := io.ReadAll(req.Body)
		if json.Unmarshal(data, &body) != nil || json.Unmarshal(body.Job, &job) != nil || job.ID == "" {
			http.Error(w, "bad job", http.StatusBadRequest)
			return
		}
		f.jobs[job.ID] = body.Job
		f.reply(w, f.register)
	case req.Method == http.MethodGet && req.URL.Path == "/v1/jobs":
		out := []map[string]any{}
		for _, id := range slices.Sorted(maps.Keys(f.jobs)) {
			if !strings.HasPrefix(id, req.URL.Query().Get("prefix")) {
				continue
			}
			var job struct{ Meta map[string]string }
			json.Unmarshal(f.jobs[id], &job)
			s := maps.Clone(f.stub)
			s["ID"], s["Name"], s["Meta"] = id, id, job.Meta
			out = append(out, s)
		}
		w.Header().Set("X-Nomad-Index", "100")
		json.NewEncoder(w).Encode(out)
	case req.Method == http.MethodGet && isJob && !strings.Contains(id, "/"):
		job, ok := f.jobs[id]
		if !ok {
			http.Error(w, "job not found", http.StatusNotFound)
			return
		}
		w.Header().Set("X-Nomad-Index", "100")
		w.Write(job)
	case req.Method == http.MethodDelete && isJob && !strings.Contains(id, "/"):
		if _, ok := f.jobs[id]; !ok {
			http.Error(w, "job not found", http.StatusNotFound)
			return
		}
		if req.URL.Query().Get("purge") != "true" {
			f.t.Errorf("DELETE %s without purge: the fake only purges", id)
		}
		delete(f.jobs, id)
		f.deletes = append(f.deletes, id)
		f.reply(w, f.purge)
	default:
		http.Error(w, "not found", http.StatusNotFound)
	}
}

// ids returns the IDs of the registered jobs, sorted.
func (f *fakeNomad) ids() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Sorted(maps.Keys(f.jobs))
}

// meta returns the meta of the registered job id.
func (f *fakeNomad) meta(id string) map[string]string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var job struct{ Meta map[string]string }
	json.Unmarshal(f.jobs[id], &job)
	return job.Meta
}

// put registers a job as an earlier elk would have: ID and elk meta only.
func (f *fakeNomad) put(id, app, entity string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	data, _ := json.Marshal(map[string]any{"ID": id, "Name": id, "Type": "service",
		"Meta": map[string]string{MetaApp: app, MetaEntity: entity}})
	f.jobs[id] = data
}

// newFakeTarget returns a target talking to a new fakeNomad.
func newFakeTarget(t *testing.T) (*fakeNomad, *Target) {
	f := newFakeNomad(t)
	return f, newTargetAt(t, f.URL())
}
