package nomad

import (
	"errors"
	"fmt"
	"maps"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/nomad/api"

	"github.com/elk-project/elk/orchestrator/discovery"
	"github.com/elk-project/elk/orchestrator/target"
)

// Job meta keys identifying the jobs elk manages.
const (
	MetaApp    = "elk.app"
	MetaEntity = "elk.entity"
	MetaType   = "elk.type"
	// MetaSpec is a hash of the spec (without its count): Apply skips the
	// registration when it is unchanged.
	MetaSpec = "elk.spec"
)

// Spec meta keys giving the bounds of the group's scaling block.
const (
	SpecScaleMin = "scale_min"
	SpecScaleMax = "scale_max"
)

// MaxCount is the scaling block's maximum when the spec gives none.
const MaxCount = 1000

// JobID is the id of the job running app/entity: its service name,
// discovery.ServiceName(app, entity), which no other app/entity shares
// ("web"+"api-db" is "web-api-db", "web-api"+"db" is "web--api-db").
func JobID(app, entity string) string { return discovery.ServiceName(app, entity) }

// jobPrefix begins the ID of every job of app (and of some other apps':
// "web-" begins "web--api-db" too, so callers check the meta).
func jobPrefix(app string) string { return JobID(app, "") }

// oldJobID is the ID elk gave app/entity's job before JobID doubled the
// app's dashes: the plain "<app>-<entity>", which another app/entity may
// share. It differs from JobID only for apps with a '-'; a job under it is
// app/entity's only when its meta says so. The target finds such jobs so
// that they are listed, removed, and replaced by JobID's on the next
// deploy instead of left running.
func oldJobID(app, entity string) string { return app + "-" + entity }

// JobOptions shape the jobs rendered from specs.
type JobOptions struct {
	// Datacenters the jobs may run in; default ["*"].
	Datacenters []string
	// ServiceProvider registers services in "consul" (default) or "nomad".
	ServiceProvider string
	// RegistryURL replaces ${registry} in commands and environment.
	RegistryURL string
	// Rollout timing: how long an allocation must be healthy, how long it
	// may take to become healthy, and how long a deployment may go without
	// progress. Defaults 2s, 2m, 3m.
	MinHealthyTime   time.Duration
	HealthyDeadline  time.Duration
	ProgressDeadline time.Duration
	// RestartAttempts within one minute before a task fails; default 2.
	RestartAttempts int
}

func (o JobOptions) withDefaults() JobOptions {
	if len(o.Datacenters) == 0 {
		o.Datacenters = []string{"*"}
	}
	if o.ServiceProvider == "" {
		o.ServiceProvider = "consul"
	}
	if o.MinHealthyTime == 0 {
		o.MinHealthyTime = 2 * time.Second
	}
	if o.HealthyDeadline == 0 {
		o.HealthyDeadline = 2 * time.Minute
	}
	if o.ProgressDeadline == 0 {
		o.ProgressDeadline = o.HealthyDeadline + time.Minute
	}
	if o.RestartAttempts == 0 {
		o.RestartAttempts = 2
	}
	return o
}

var placeholderRe = regexp.MustCompile(`\$\{([a-zA-Z0-9_.-]+)\}`)

// label turns a port name into a Nomad port label (letters, digits, _).
func label(name string) string { return strings.ReplaceAll(name, "-", "_") }

// interpolate translates elk's placeholders into Nomad's runtime variables;
// anything else (e.g. ${attr.unique.network.ip-address}) is left for Nomad.
func interpolate(s string, spec target.Spec, o JobOptions) string {
	return placeholderRe.ReplaceAllStringFunc(s, func(m string) string {
		name := m[2 : len(m)-1]
		switch name {
		case "instance":
			return "${NOMAD_ALLOC_INDEX}"
		case "app":
			return spec.App
		case "entity":
			return spec.Entity
		case "registry":
			return o.RegistryURL
		}
		if p, ok := strings.CutPrefix(name, "port."); ok {
			return "${NOMAD_PORT_" + label(p) + "}"
		}
		return m
	})
}

// Job renders the Nomad job that runs spec: one job JobID(app, entity) with
// one group and one task (raw_exec for commands, docker for images), a
// scaling block, the ports, and a service registration with its check.
func Job(spec target.Spec, o JobOptions) (*api.Job, error) {
	o = o.withDefaults()
	if err := validate(spec); err != nil {
		return nil, err
	}
	id := JobID(spec.App, spec.Entity)
	job := &api.Job{ID: &id, Name: &id, Type: new("service")}
	job.Datacenters = o.Datacenters
	job.Meta = map[string]string{MetaApp: spec.App, MetaEntity: spec.Entity, MetaSpec: spec.Hash()}
	if spec.Type != "" {
		job.Meta[MetaType] = spec.Type
	}

	group := api.NewTaskGroup(spec.Entity, spec.Count)
	group.Meta = maps.Clone(spec.Meta)
	lo, hi := int64(0), int64(max(MaxCount, spec.Count))
	if v, err := strconv.Atoi(spec.Meta[SpecScaleMin]); err == nil {
		lo = int64(v)
	}
	if v, err := strconv.Atoi(spec.Meta[SpecScaleMax]); err == nil {
		hi = int64(v)
	}
	group.Scaling = &api.ScalingPolicy{Min: &lo, Max: &hi, Enabled: new(false)}

	task := api.NewTask(spec.Entity, "raw_exec")
	var cmd []string
	for _, a := range spec.Command {
		cmd = append(cmd, interpolate(a, spec, o))
	}
	if spec.Image != "" {
		task.Driver = "docker"
		task.Config = map[string]any{"image": spec.Image}
		if len(cmd) > 0 {
			task.Config["command"] = cmd[0]
			if len(cmd) > 1 {
				task.Config["args"] = cmd[1:]
			}
		}
		if len(spec.Ports) > 0 {
			var labels []string
			for _, p := range spec.Ports {
				labels = append(labels, label(p.Name))
			}
			task.Config["ports"] = labels
		}
	} else {
		task.Config = map[string]any{"command": cmd[0]}
		if len(cmd) > 1 {
			task.Config["args"] = cmd[1:]
		}
	}
	if len(spec.Env)+len(spec.Secrets) > 0 {
		task.Env = map[string]string{}
		for k, v := range spec.Env {
			task.Env[k] = interpolate(v, spec, o)
		}
		// Secrets reach the task's environment, not its arguments; who
		// may read the job (its env included) is Nomad's ACL to decide.
		for k, v := range spec.Secrets {
			task.Env[k] = v
		}
	}
	cpu, mem := spec.CPUMHz, spec.MemoryMB
	if cpu == 0 {
		cpu = 100
	}
	if mem == 0 {
		mem = 128
	}
	task.Resources = &api.Resources{CPU: &cpu, MemoryMB: &mem}
	group.Tasks = []*api.Task{task}

	if len(spec.Ports) > 0 {
		nw := &api.NetworkResource{}
		for _, p := range spec.Ports {
			port := api.Port{Label: label(p.Name), Value: p.Static}
			if p.Static > 0 {
				// Instances share a static port (SO_REUSEPORT); only
				// host networking allows that, so only raw_exec.
				port.IgnoreCollision = spec.Image == ""
				nw.ReservedPorts = append(nw.ReservedPorts, port)
			} else {
				nw.DynamicPorts = append(nw.DynamicPorts, port)
			}
		}
		group.Networks = []*api.NetworkResource{nw}
	}

	svc := &api.Service{
		Name:     discovery.ServiceName(spec.App, spec.Entity),
		Tags:     append([]string(nil), spec.Tags...),
		Meta:     maps.Clone(spec.Meta),
		Provider: o.ServiceProvider,
	}
	h := spec.Health
	switch {
	case h.Port != "":
		svc.PortLabel = label(h.Port)
	case len(spec.Ports) > 0:
		svc.PortLabel = label(spec.Ports[0].Name)
	}
	interval, timeout := h.Interval, h.Timeout
	if interval == 0 {
		interval = 5 * time.Second
	}
	if timeout == 0 {
		timeout = 2 * time.Second
	}
	healthCheck := "task_states"
	switch {
	case h.HTTPPath != "":
		svc.Checks = []api.ServiceCheck{{Name: "http", Type: "http", Path: h.HTTPPath, PortLabel: label(h.Port), Interval: interval, Timeout: timeout}}
		healthCheck = "checks"
	case h.TCP:
		svc.Checks = []api.ServiceCheck{{Name: "tcp", Type: "tcp", PortLabel: label(h.Port), Interval: interval, Timeout: timeout}}
		healthCheck = "checks"
	}
	group.Services = []*api.Service{svc}

	group.Update = &api.UpdateStrategy{
		MaxParallel:      new(1),
		HealthCheck:      &healthCheck,
		MinHealthyTime:   &o.MinHealthyTime,
		HealthyDeadline:  &o.HealthyDeadline,
		ProgressDeadline: &o.ProgressDeadline,
		AutoRevert:       new(false),
	}
	group.RestartPolicy = &api.RestartPolicy{
		Attempts: &o.RestartAttempts,
		Interval: new(time.Minute),
		Delay:    new(2 * time.Second),
		Mode:     new("fail"),
	}
	job.TaskGroups = []*api.TaskGroup{group}
	return job, nil
}

func validate(spec target.Spec) error {
	var errs []error
	if spec.App == "" || spec.Entity == "" {
		errs = append(errs, errors.New("app and entity are required"))
	}
	if strings.HasPrefix(spec.Entity, "-") {
		// Job IDs stay apart only for entities that start with another
		// character (see discovery.ServiceName).
		errs = append(errs, fmt.Errorf("entity %q must not start with '-'", spec.Entity))
	}
	if len(spec.Command) == 0 && spec.Image == "" {
		errs = append(errs, errors.New("a command or an image is required"))
	}
	if spec.Count < 0 {
		errs = append(errs, fmt.Errorf("count %d is negative", spec.Count))
	}
	names := map[string]bool{}
	for _, p := range spec.Ports {
		names[p.Name] = true
	}
	if (spec.Health.HTTPPath != "" || spec.Health.TCP) && !names[spec.Health.Port] {
		errs = append(errs, fmt.Errorf("health check port %q is not one of the ports", spec.Health.Port))
	}
	for _, s := range append(append([]string(nil), spec.Command...), envValues(spec.Env)...) {
		for _, m := range placeholderRe.FindAllStringSubmatch(s, -1) {
			if p, ok := strings.CutPrefix(m[1], "port."); ok && !names[p] {
				errs = append(errs, fmt.Errorf("placeholder %s names no port", m[0]))
			}
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("job for %s/%s: %w", spec.App, spec.Entity, errors.Join(errs...))
	}
	return nil
}

func envValues(env map[string]string) []string {
	keys := make([]string, 0, len(env))
	for k := range env {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var out []string
	for _, k := range keys {
		out = append(out, env[k])
	}
	return out
}
