// Package nomad runs blueprint entities on a Nomad cluster: one service job
// per entity (JobID: "<app>-<entity>" with each '-' of the app doubled),
// counts changed through the job scale API, health read from deployments
// and allocations. The client honors NOMAD_ADDR, NOMAD_TOKEN,
// NOMAD_NAMESPACE, NOMAD_REGION and the NOMAD_CA*/NOMAD_CLIENT_* TLS
// settings.
package nomad

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/nomad/api"

	"github.com/elk-project/elk/orchestrator/target"
)

// Config configures the Nomad target.
type Config struct {
	// Client talks to Nomad; nil: a client from api.DefaultConfig() (the
	// NOMAD_* environment variables).
	Client *api.Client
	// Jobs shapes the rendered jobs.
	Jobs JobOptions
	// FailAfterRestarts makes Wait fail once an allocation of the current
	// version restarted this often; default 3.
	FailAfterRestarts int
	// PollInterval is the wait between status reads in Wait; default 1s.
	PollInterval time.Duration
	Logger       *slog.Logger
}

// Target is the Nomad target.
type Target struct {
	c   *api.Client
	cfg Config
	log *slog.Logger
}

var _ target.Target = (*Target)(nil)

// New returns a Nomad target.
func New(cfg Config) (*Target, error) {
	if cfg.Client == nil {
		c, err := api.NewClient(api.DefaultConfig())
		if err != nil {
			return nil, fmt.Errorf("nomad client: %w", err)
		}
		cfg.Client = c
	}
	if cfg.FailAfterRestarts == 0 {
		cfg.FailAfterRestarts = 3
	}
	if cfg.PollInterval == 0 {
		cfg.PollInterval = time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	cfg.Jobs = cfg.Jobs.withDefaults()
	return &Target{c: cfg.Client, cfg: cfg, log: cfg.Logger}, nil
}

// Name is "nomad".
func (t *Target) Name() string { return "nomad" }

// Job renders the job spec would be submitted as.
func (t *Target) Job(spec target.Spec) (*api.Job, error) { return Job(spec, t.cfg.Jobs) }

func qo(ctx context.Context) *api.QueryOptions { return (&api.QueryOptions{}).WithContext(ctx) }
func wo(ctx context.Context) *api.WriteOptions { return (&api.WriteOptions{}).WithContext(ctx) }

// status returns the HTTP status of a Nomad API error, or 0.
func status(err error) int {
	var ue api.UnexpectedResponseError
	if errors.As(err, &ue) && ue.HasStatusCode() {
		return ue.StatusCode()
	}
	return 0
}

// apiError describes a failed call and whether retrying may help.
func apiError(what string, err error) error {
	code := status(err)
	switch {
	case code == http.StatusNotFound:
		return fmt.Errorf("%s: %w", what, target.ErrNotFound)
	case code >= 400 && code < 500:
		return fmt.Errorf("%s (not retryable): %w", what, err)
	case code >= 500 && strings.Contains(err.Error(), "validation failed"):
		return fmt.Errorf("%s: job rejected: %w", what, err)
	}
	return fmt.Errorf("%s (retryable): %w", what, err)
}

// job returns the running job of app/entity or target.ErrNotFound (also for
// a stopped job).
// A job with app/entity's ID that another application (or no elk
// application at all) owns is ErrForeignJob: elk never registers over it,
// scales or purges it.
func (t *Target) job(ctx context.Context, app, entity string) (*api.Job, error) {
	id := JobID(app, entity)
	job, _, err := t.c.Jobs().Info(id, qo(ctx))
	if err != nil {
		return nil, apiError(fmt.Sprintf("read job %q", id), err)
	}
	if err := owned(job, app, entity); err != nil {
		return nil, err
	}
	if job.Stop != nil && *job.Stop {
		return nil, fmt.Errorf("job %q is stopped: %w", id, target.ErrNotFound)
	}
	return job, nil
}

// ErrForeignJob is returned for a job whose ID is app/entity's but whose
// elk.app/elk.entity meta says it is not theirs.
var ErrForeignJob = errors.New("job is not this entity's")

func owned(job *api.Job, app, entity string) error {
	if job.Meta[MetaApp] == app && job.Meta[MetaEntity] == entity {
		return nil
	}
	return fmt.Errorf("job %q has %s=%q %s=%q, not %s/%s: refusing to touch it: %w",
		*job.ID, MetaApp, job.Meta[MetaApp], MetaEntity, job.Meta[MetaEntity], app, entity, ErrForeignJob)
}

// Plan returns what registering spec would change, one line per change
// ("" when nothing would).
func (t *Target) Plan(ctx context.Context, spec target.Spec) (string, error) {
	job, err := t.Job(spec)
	if err != nil {
		return "", err
	}
	resp, _, err := t.c.Jobs().Plan(job, true, wo(ctx))
	if err != nil {
		return "", apiError(fmt.Sprintf("plan job %q", *job.ID), err)
	}
	var lines []string
	if resp.Diff != nil {
		lines = diffLines(resp.Diff)
	}
	if resp.Annotations != nil {
		groups := make([]string, 0, len(resp.Annotations.DesiredTGUpdates))
		for g := range resp.Annotations.DesiredTGUpdates {
			groups = append(groups, g)
		}
		sort.Strings(groups)
		for _, g := range groups {
			if u := resp.Annotations.DesiredTGUpdates[g]; u != nil {
				if s := updateSummary(u); s != "" {
					lines = append(lines, fmt.Sprintf("group %s: %s", g, s))
				}
			}
		}
	}
	for tg, m := range resp.FailedTGAllocs {
		lines = append(lines, fmt.Sprintf("placement of %s would fail: %s", tg, metricSummary(m)))
	}
	if resp.Warnings != "" {
		lines = append(lines, "warning: "+strings.TrimSpace(resp.Warnings))
	}
	return strings.Join(lines, "\n"), nil
}

// Apply registers the job of spec unless the registered job already runs
// this spec and count. When there is no job under JobID yet, the entity's
// job under its old ID (oldJobID) is purged first: the entity then moves
// to its new job and service name, on the same ports.
func (t *Target) Apply(ctx context.Context, spec target.Spec) error {
	job, err := t.Job(spec)
	if err != nil {
		return err
	}
	cur, err := t.job(ctx, spec.App, spec.Entity)
	if errors.Is(err, target.ErrNotFound) {
		if err := t.removeOld(ctx, spec.App, spec.Entity); err != nil {
			return err
		}
	}
	switch {
	case err == nil:
		if cur.Meta[MetaSpec] == job.Meta[MetaSpec] && len(cur.TaskGroups) == 1 &&
			cur.TaskGroups[0].Count != nil && *cur.TaskGroups[0].Count == spec.Count {
			return nil
		}
		if diff, err := t.Plan(ctx, spec); err == nil && diff != "" {
			t.log.Info("job changes", "job", *job.ID, "diff", diff)
		}
	case !errors.Is(err, target.ErrNotFound):
		return err
	}
	resp, _, err := t.c.Jobs().Register(job, wo(ctx))
	if err != nil {
		return apiError(fmt.Sprintf("register job %q", *job.ID), err)
	}
	if resp.Warnings != "" {
		t.log.Warn("job registered with warnings", "job", *job.ID, "warnings", resp.Warnings)
	}
	t.log.Info("job registered", "job", *job.ID, "count", spec.Count, "eval", resp.EvalID)
	return nil
}

// Scale changes the group count through the job scale API, recording the
// message and meta as the scaling event's reason.
func (t *Target) Scale(ctx context.Context, app, entity string, req target.ScaleRequest) error {
	job, err := t.job(ctx, app, entity)
	if err != nil {
		return err
	}
	if req.Count < 0 {
		return fmt.Errorf("scale %s/%s: count %d is negative", app, entity, req.Count)
	}
	if len(job.TaskGroups) != 1 || job.TaskGroups[0].Name == nil {
		return fmt.Errorf("scale %s/%s: job %q has %d groups, want 1", app, entity, *job.ID, len(job.TaskGroups))
	}
	group := *job.TaskGroups[0].Name
	if s := job.TaskGroups[0].Scaling; s != nil && s.Max != nil && int64(req.Count) > *s.Max {
		return fmt.Errorf("scale %s/%s to %d: above the scaling maximum %d", app, entity, req.Count, *s.Max)
	}
	if s := job.TaskGroups[0].Scaling; s != nil && s.Min != nil && int64(req.Count) < *s.Min {
		return fmt.Errorf("scale %s/%s to %d: below the scaling minimum %d", app, entity, req.Count, *s.Min)
	}
	meta := map[string]any{}
	for k, v := range req.Meta {
		meta[k] = v
	}
	msg := req.Message
	if msg == "" {
		msg = "elk: scale to " + strconv.Itoa(req.Count)
	}
	count := req.Count
	if _, _, err := t.c.Jobs().Scale(*job.ID, group, &count, msg, false, meta, wo(ctx)); err != nil {
		return apiError(fmt.Sprintf("scale job %q", *job.ID), err)
	}
	t.log.Info("job scaled", "job", *job.ID, "count", count, "message", msg)
	return nil
}

// Remove deregisters and purges the job, and the entity's job under its
// old ID (oldJobID) if there is one; an unknown job is not an error.
func (t *Target) Remove(ctx context.Context, app, entity string) error {
	id := JobID(app, entity)
	// Only a job that is this entity's (running or stopped) or none at
	// all is deregistered: a foreign job, or one that cannot be read, is
	// left alone.
	if _, err := t.job(ctx, app, entity); err != nil && !errors.Is(err, target.ErrNotFound) {
		return err
	}
	_, _, err := t.c.Jobs().Deregister(id, true, wo(ctx))
	if err != nil && status(err) != http.StatusNotFound {
		return apiError(fmt.Sprintf("deregister job %q", id), err)
	}
	return t.removeOld(ctx, app, entity)
}

// removeOld purges app/entity's job registered under oldJobID by an elk
// that did not double the app's dashes. A job there whose meta names
// another entity is that entity's (web/api-db's "web-api-db" is not
// web-api/db's old job) and is left alone.
func (t *Target) removeOld(ctx context.Context, app, entity string) error {
	old := oldJobID(app, entity)
	if old == JobID(app, entity) {
		return nil
	}
	job, _, err := t.c.Jobs().Info(old, qo(ctx))
	switch {
	case status(err) == http.StatusNotFound:
		return nil
	case err != nil:
		return apiError(fmt.Sprintf("read job %q", old), err)
	case owned(job, app, entity) != nil:
		return nil
	}
	if _, _, err := t.c.Jobs().Deregister(old, true, wo(ctx)); err != nil && status(err) != http.StatusNotFound {
		return apiError(fmt.Sprintf("deregister job %q", old), err)
	}
	t.log.Info("removed the job registered under the entity's old name", "job", old, "app", app, "entity", entity, "new_job", JobID(app, entity))
	return nil
}

// List returns the entities of app that run as jobs, including jobs under
// their old IDs (oldJobID).
func (t *Target) List(ctx context.Context, app string) ([]string, error) {
	prefixes := []string{jobPrefix(app)}
	if old := oldJobID(app, ""); old != prefixes[0] {
		prefixes = append(prefixes, old)
	}
	out := []string{}
	for _, prefix := range prefixes {
		q := qo(ctx)
		q.Prefix = prefix
		jobs, _, err := t.c.Jobs().ListOptions(&api.JobListOptions{Fields: &api.JobListFields{Meta: true}}, q)
		if err != nil {
			return nil, apiError("list jobs", err)
		}
		for _, j := range jobs {
			if j.Stop || j.Meta[MetaApp] != app || j.Meta[MetaEntity] == "" || slices.Contains(out, j.Meta[MetaEntity]) {
				continue
			}
			out = append(out, j.Meta[MetaEntity])
		}
	}
	sort.Strings(out)
	return out, nil
}

var allocIndexRe = regexp.MustCompile(`\[(\d+)\]$`)

// allocs returns the job's allocations with their allocated resources
// (addresses and ports), which only the allocations list endpoint returns.
func (t *Target) allocs(ctx context.Context, jobID string) ([]*api.AllocationListStub, error) {
	q := qo(ctx)
	q.Params = map[string]string{"resources": "true"}
	q.Filter = fmt.Sprintf("JobID == %q", jobID)
	list, _, err := t.c.Allocations().List(q)
	if err != nil {
		return nil, apiError(fmt.Sprintf("list allocations of %q", jobID), err)
	}
	out := list[:0]
	for _, a := range list {
		if a.JobID == jobID {
			out = append(out, a)
		}
	}
	return out, nil
}

func live(a *api.AllocationListStub) bool {
	return a.DesiredStatus == api.AllocDesiredStatusRun &&
		(a.ClientStatus == api.AllocClientStatusPending || a.ClientStatus == api.AllocClientStatusRunning)
}

func healthy(a *api.AllocationListStub) bool {
	if a.ClientStatus != api.AllocClientStatusRunning {
		return false
	}
	if a.DeploymentStatus == nil {
		return true
	}
	return a.DeploymentStatus.Healthy != nil && *a.DeploymentStatus.Healthy
}

// Status reports the job's allocations.
func (t *Target) Status(ctx context.Context, app, entity string) (target.Status, error) {
	job, err := t.job(ctx, app, entity)
	if err != nil {
		return target.Status{}, err
	}
	var st target.Status
	if len(job.TaskGroups) > 0 && job.TaskGroups[0].Count != nil {
		st.Desired = *job.TaskGroups[0].Count
	}
	allocs, err := t.allocs(ctx, *job.ID)
	if err != nil {
		return st, err
	}
	st.Instances = []target.Instance{}
	for _, a := range allocs {
		if !live(a) {
			continue
		}
		in := instance(a)
		if in.State == "running" {
			st.Running++
		}
		if in.Healthy {
			st.Healthy++
		}
		st.Instances = append(st.Instances, in)
	}
	sort.Slice(st.Instances, func(i, j int) bool { return st.Instances[i].Index < st.Instances[j].Index })
	if d, _, err := t.c.Jobs().LatestDeployment(*job.ID, qo(ctx)); err == nil && d != nil {
		st.Deploying = d.Status == api.DeploymentStatusRunning || d.Status == api.DeploymentStatusPending ||
			d.Status == api.DeploymentStatusPaused || d.Status == api.DeploymentStatusBlocked
	}
	return st, nil
}

func instance(a *api.AllocationListStub) target.Instance {
	in := target.Instance{ID: a.ID, State: a.ClientStatus, Healthy: healthy(a), Meta: map[string]string{"node": a.NodeName, "job_version": strconv.FormatUint(a.JobVersion, 10)}}
	if m := allocIndexRe.FindStringSubmatch(a.Name); m != nil {
		in.Index, _ = strconv.Atoi(m[1])
	}
	for _, ts := range a.TaskStates {
		in.Restarts += int(ts.Restarts)
		if n := len(ts.Events); n > 0 {
			in.Message = ts.Events[n-1].DisplayMessage
		}
	}
	if r := a.AllocatedResources; r != nil {
		ports := map[string]int{}
		for _, p := range r.Shared.Ports {
			ports[p.Label] = p.Value
			if in.Addr == "" {
				in.Addr = p.HostIP
			}
		}
		nets := append([]*api.NetworkResource(nil), r.Shared.Networks...)
		for _, tr := range r.Tasks {
			nets = append(nets, tr.Networks...)
		}
		for _, n := range nets {
			if in.Addr == "" {
				in.Addr = n.IP
			}
			for _, p := range append(append([]api.Port(nil), n.ReservedPorts...), n.DynamicPorts...) {
				if _, ok := ports[p.Label]; !ok {
					ports[p.Label] = p.Value
				}
			}
		}
		if len(ports) > 0 {
			in.Ports = ports
		}
	}
	return in
}

// Wait blocks until every allocation of the job's current version is
// running and healthy, the deployment fails (the error says why, from the
// failed allocations' task events), or ctx ends.
func (t *Target) Wait(ctx context.Context, app, entity string) error {
	var pending string // why allocations are not placed yet
	timeout := func() error {
		st, _ := t.Status(context.WithoutCancel(ctx), app, entity)
		err := fmt.Errorf("wait for %s/%s: %w (%d of %d healthy)", app, entity, ctx.Err(), st.Healthy, st.Desired)
		if pending != "" {
			err = fmt.Errorf("%w: %s", err, pending)
		}
		return err
	}
	for {
		done, why, err := t.check(ctx, app, entity)
		if err != nil && ctx.Err() != nil {
			return timeout() // the deadline hit during a request
		}
		if err != nil || done {
			return err
		}
		pending = why
		select {
		case <-ctx.Done():
			return timeout()
		case <-time.After(t.cfg.PollInterval):
		}
	}
}

// check is one round of Wait: done, or why allocations wait for
// placement, or an error that ends the wait.
func (t *Target) check(ctx context.Context, app, entity string) (bool, string, error) {
	job, err := t.job(ctx, app, entity)
	if err != nil {
		return false, "", err
	}
	id := *job.ID
	version := uint64(0)
	if job.Version != nil {
		version = *job.Version
	}
	desired := 0
	if len(job.TaskGroups) > 0 && job.TaskGroups[0].Count != nil {
		desired = *job.TaskGroups[0].Count
	}
	allocs, err := t.allocs(ctx, id)
	if err != nil {
		return false, "", err
	}
	// A failed allocation of the current version fails the wait at once.
	for _, a := range allocs {
		if a.JobVersion != version || a.DesiredStatus != api.AllocDesiredStatusRun {
			continue
		}
		if a.ClientStatus == api.AllocClientStatusFailed || a.ClientStatus == api.AllocClientStatusLost {
			return false, "", fmt.Errorf("%s/%s: allocation %s %s: %s", app, entity, a.Name, a.ClientStatus, failureReason(a))
		}
		restarts := 0
		for _, ts := range a.TaskStates {
			restarts += int(ts.Restarts)
		}
		if restarts >= t.cfg.FailAfterRestarts {
			return false, "", fmt.Errorf("%s/%s: allocation %s restarted %d times: %s", app, entity, a.Name, restarts, failureReason(a))
		}
	}
	d, _, err := t.c.Jobs().LatestDeployment(id, qo(ctx))
	if err != nil {
		return false, "", apiError(fmt.Sprintf("read deployment of %q", id), err)
	}
	if d != nil && d.JobVersion == version {
		switch d.Status {
		case api.DeploymentStatusFailed, api.DeploymentStatusCancelled:
			return false, "", fmt.Errorf("%s/%s: deployment %s %s: %s%s", app, entity, shortID(d.ID), d.Status, d.StatusDescription, allocFailures(allocs, version))
		}
	}
	why, permanent := t.placement(ctx, id, job)
	if permanent {
		return false, "", fmt.Errorf("%s/%s: %s", app, entity, why)
	}
	healthyN, liveN := 0, 0
	for _, a := range allocs {
		if !live(a) {
			continue
		}
		liveN++
		if a.JobVersion == version && healthy(a) {
			healthyN++
		}
	}
	if d != nil && d.JobVersion == version && d.Status != api.DeploymentStatusSuccessful {
		return false, why, nil
	}
	return healthyN == desired && liveN == desired, why, nil
}

// placement says why the latest evaluation of the current job could not
// place allocations. It is permanent when no node can ever run them (every
// node filtered out by constraints, e.g. a missing driver); exhausted
// resources may free up, so the wait goes on.
func (t *Target) placement(ctx context.Context, id string, job *api.Job) (why string, permanent bool) {
	evals, _, err := t.c.Jobs().Evaluations(id, qo(ctx))
	if err != nil || len(evals) == 0 {
		return "", false
	}
	sort.Slice(evals, func(i, j int) bool { return evals[i].CreateIndex > evals[j].CreateIndex })
	e := evals[0]
	if job.JobModifyIndex != nil && e.JobModifyIndex < *job.JobModifyIndex {
		return "", false
	}
	groups := make([]string, 0, len(e.FailedTGAllocs))
	for g := range e.FailedTGAllocs {
		groups = append(groups, g)
	}
	sort.Strings(groups)
	for _, g := range groups {
		m := e.FailedTGAllocs[g]
		return "cannot place " + g + ": " + metricSummary(m), m.NodesExhausted == 0 && len(m.QuotaExhausted) == 0
	}
	return "", false
}

// updateSummary says what a plan does to a group's allocations.
func updateSummary(u *api.DesiredUpdates) string {
	var parts []string
	for _, p := range []struct {
		what string
		n    uint64
	}{{"place", u.Place}, {"stop", u.Stop}, {"update in place", u.InPlaceUpdate},
		{"replace", u.DestructiveUpdate}, {"migrate", u.Migrate}, {"canary", u.Canary}} {
		if p.n > 0 {
			parts = append(parts, fmt.Sprintf("%s %d", p.what, p.n))
		}
	}
	return strings.Join(parts, ", ")
}

func metricSummary(m *api.AllocationMetric) string {
	var parts []string
	add := func(what string, mm map[string]int) {
		keys := make([]string, 0, len(mm))
		for k := range mm {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			parts = append(parts, fmt.Sprintf("%s %q filtered %d node(s)", what, k, mm[k]))
		}
	}
	add("constraint", m.ConstraintFiltered)
	add("class", m.ClassFiltered)
	if m.NodesExhausted > 0 {
		var dims []string
		for k, v := range m.DimensionExhausted {
			dims = append(dims, fmt.Sprintf("%s on %d", k, v))
		}
		sort.Strings(dims)
		parts = append(parts, fmt.Sprintf("%d node(s) exhausted (%s)", m.NodesExhausted, strings.Join(dims, ", ")))
	}
	if m.NodesEvaluated == 0 && len(parts) == 0 {
		parts = append(parts, "no nodes were eligible")
	}
	return strings.Join(parts, "; ")
}

func shortID(id string) string {
	if len(id) > 8 {
		return id[:8]
	}
	return id
}

// failureReason says why an allocation failed: the task's last
// termination or driver failure, and the event that failed the task.
func failureReason(a *api.AllocationListStub) string {
	var reasons []string
	names := make([]string, 0, len(a.TaskStates))
	for n := range a.TaskStates {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		var end, fail *api.TaskEvent
		for _, ev := range a.TaskStates[n].Events {
			switch {
			case ev.FailsTask:
				fail = ev
			case ev.Type == api.TaskTerminated || ev.Type == api.TaskDriverFailure || ev.Type == api.TaskSetupFailure || ev.DriverError != "":
				end = ev
			}
		}
		var parts []string
		for _, ev := range []*api.TaskEvent{end, fail} {
			if ev == nil {
				continue
			}
			msg := ev.DisplayMessage
			if msg == "" {
				msg = ev.Type
			}
			if ev.DriverError != "" && !strings.Contains(msg, ev.DriverError) {
				msg += ": " + ev.DriverError
			}
			parts = append(parts, msg)
		}
		if len(parts) > 0 {
			reasons = append(reasons, fmt.Sprintf("task %s: %s", n, strings.Join(parts, ", ")))
		}
	}
	if len(reasons) == 0 {
		return a.ClientDescription
	}
	return strings.Join(reasons, "; ")
}

// allocFailures appends the reasons of the current version's failed
// allocations to a deployment failure.
func allocFailures(allocs []*api.AllocationListStub, version uint64) string {
	var out []string
	for _, a := range allocs {
		if a.JobVersion != version {
			continue
		}
		unhealthy := a.DeploymentStatus != nil && a.DeploymentStatus.Healthy != nil && !*a.DeploymentStatus.Healthy
		if a.ClientStatus == api.AllocClientStatusFailed || unhealthy {
			out = append(out, fmt.Sprintf("%s: %s", a.Name, failureReason(a)))
		}
	}
	if len(out) == 0 {
		return ""
	}
	return " (" + strings.Join(out, "; ") + ")"
}
