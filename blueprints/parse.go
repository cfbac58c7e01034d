package blueprints

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/elk-project/elk/collector/output"
	"github.com/elk-project/elk/orchestrator/discovery"
	"github.com/elk-project/elk/policies"
)

// MaxNameLen bounds application and entity names; the job and service name
// of an entity, discovery.ServiceName(app, entity), must fit a DNS label
// too.
const MaxNameLen = 63

var nameRe = regexp.MustCompile(`^[a-z]([a-z0-9-]*[a-z0-9])?$`)

// ValidName reports why name is not a valid application, entity or tenant
// name (lower-case letters, digits and '-', starting with a letter, not
// ending with '-', at most 63 characters), or nil.
func ValidName(name string) error {
	switch {
	case name == "":
		return errors.New("must not be empty")
	case len(name) > MaxNameLen:
		return fmt.Errorf("%q is longer than %d characters", truncate(name), MaxNameLen)
	case !nameRe.MatchString(name):
		return fmt.Errorf("%q must be lower-case letters, digits and '-', start with a letter and not end with '-'", truncate(name))
	}
	return nil
}

// ValidAppName reports why name is not a valid application name: a
// ValidName without "--", or nil. Job and service names write each '-' of
// the application name as "--" (discovery.ServiceName); they stay apart
// without this rule, but with it a "--" in one always stands for a single
// '-' of the application's name.
func ValidAppName(name string) error {
	if err := ValidName(name); err != nil {
		return err
	}
	if strings.Contains(name, "--") {
		return fmt.Errorf("%q must not contain \"--\" (job and service names write each '-' of an application name as \"--\")", truncate(name))
	}
	return nil
}

func truncate(s string) string {
	if len(s) > 70 {
		return s[:70] + "..."
	}
	return s
}

// Load reads and validates the blueprint in path.
func Load(path string) (*Application, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read blueprint: %w", err)
	}
	return Parse(path, data)
}

// Parse parses and validates a blueprint. filename is used in error
// positions. The returned error joins every problem found, each an *Error
// with file:line:col.
func Parse(filename string, data []byte) (*Application, error) {
	w := &errs{file: filename}
	var doc yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			w.at(nil, "empty blueprint")
			return nil, w.err()
		}
		return nil, yamlError(filename, data, err)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		w.at(&extra, "a blueprint file holds one YAML document")
		return nil, w.err()
	} else if !errors.Is(err, io.EOF) {
		return nil, yamlError(filename, data, err)
	}
	root := &doc
	if root.Kind == yaml.DocumentNode && len(root.Content) == 1 {
		root = root.Content[0]
	}
	p := &parser{errs: w}
	app := p.app(root)
	p.check(app)
	if err := w.err(); err != nil {
		return nil, err
	}
	return app, nil
}

type parser struct {
	*errs
	// nodes remember where things were written for the checks that run
	// after the walk.
	dependsOn map[string][]*yaml.Node // entity id -> depends_on items
	refs      []ref
	entityPos map[string]*yaml.Node
}

type ref struct {
	from string
	to   string
	node *yaml.Node
	what string
}

// deref follows an alias (*name) to its anchored node.
func deref(n *yaml.Node) *yaml.Node {
	for i := 0; n != nil && n.Kind == yaml.AliasNode && n.Alias != nil && i < 8; i++ {
		n = n.Alias
	}
	return n
}

// fields returns the values of a mapping by key, reporting unknown and
// duplicate keys.
func (p *parser) fields(n *yaml.Node, what string, allowed ...string) map[string]*yaml.Node {
	n = deref(n)
	out := map[string]*yaml.Node{}
	if n.Kind != yaml.MappingNode {
		p.at(n, "%s: expected a mapping, got %s", what, kindName(n))
		return out
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			p.at(k, "%s: keys must be strings", what)
			continue
		}
		if allowed != nil && !contains(allowed, k.Value) {
			p.at(k, "%s: unknown field %q (allowed: %s)", what, k.Value, strings.Join(allowed, ", "))
			continue
		}
		if _, dup := out[k.Value]; dup {
			p.at(k, "%s: duplicate field %q", what, k.Value)
			continue
		}
		out[k.Value] = deref(v)
	}
	return out
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.AliasNode:
		return "an alias"
	case yaml.ScalarNode:
		if n.Tag == "!!null" {
			return "null"
		}
		return fmt.Sprintf("%q", truncate(n.Value))
	}
	return "nothing"
}

func (p *parser) str(n *yaml.Node, what string) string {
	if n.Kind != yaml.ScalarNode || n.Tag == "!!null" {
		p.at(n, "%s: expected a string, got %s", what, kindName(n))
		return ""
	}
	return n.Value
}

func (p *parser) int(n *yaml.Node, what string) (int, bool) {
	if n.Kind != yaml.ScalarNode || n.Tag != "!!int" {
		p.at(n, "%s: expected an integer, got %s", what, kindName(n))
		return 0, false
	}
	v, err := strconv.ParseInt(n.Value, 0, 64)
	if err != nil || v > 1<<31 || v < -(1<<31) {
		p.at(n, "%s: %q is out of range", what, n.Value)
		return 0, false
	}
	return int(v), true
}

func (p *parser) bool(n *yaml.Node, what string) bool {
	if n.Kind != yaml.ScalarNode || n.Tag != "!!bool" {
		p.at(n, "%s: expected true or false, got %s", what, kindName(n))
		return false
	}
	var v bool
	_ = n.Decode(&v)
	return v
}

func (p *parser) dur(n *yaml.Node, what string) time.Duration {
	s := p.str(n, what)
	if s == "" {
		return 0
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		p.at(n, "%s: %q is not a positive duration such as 10s", what, truncate(s))
		return 0
	}
	return d
}

func (p *parser) strs(n *yaml.Node, what string) []string {
	n = deref(n)
	if n.Kind == yaml.ScalarNode {
		if s := p.str(n, what); s != "" {
			return []string{s}
		}
		return nil
	}
	if n.Kind != yaml.SequenceNode {
		p.at(n, "%s: expected a string or a list of strings, got %s", what, kindName(n))
		return nil
	}
	var out []string
	for i, it := range n.Content {
		out = append(out, p.str(deref(it), fmt.Sprintf("%s[%d]", what, i)))
	}
	return out
}

func (p *parser) strMap(n *yaml.Node, what string) map[string]string {
	f := p.fields(n, what)
	out := map[string]string{}
	for k, v := range f {
		out[k] = p.str(v, what+"."+k)
	}
	return out
}

func (p *parser) name(n *yaml.Node, what string) string {
	s := p.str(n, what)
	if n.Kind != yaml.ScalarNode {
		return ""
	}
	if err := ValidName(s); err != nil {
		p.at(n, "%s: %v", what, err)
		return ""
	}
	return s
}

func (p *parser) app(n *yaml.Node) *Application {
	app := &Application{File: p.file, Pos: p.pos(n), Target: TargetLocal}
	p.dependsOn = map[string][]*yaml.Node{}
	p.entityPos = map[string]*yaml.Node{}
	f := p.fields(n, "blueprint", "name", "description", "target", "tenants", "entities")
	if n.Kind != yaml.MappingNode {
		return app
	}
	if v := f["name"]; v != nil {
		if app.Name = p.name(v, "name"); app.Name != "" {
			if err := ValidAppName(app.Name); err != nil {
				p.at(v, "name: %v", err)
				app.Name = ""
			}
		}
	} else {
		p.at(n, "blueprint: name is required")
	}
	if v := f["description"]; v != nil {
		app.Description = p.str(v, "description")
	}
	if v := f["target"]; v != nil {
		switch t := p.str(v, "target"); t {
		case TargetLocal, TargetNomad:
			app.Target = t
		case "":
		default:
			p.at(v, "target: %q is not local or nomad", truncate(t))
		}
	}
	tenants := map[string]bool{}
	if v := f["tenants"]; v != nil {
		if v.Kind != yaml.SequenceNode {
			p.at(v, "tenants: expected a list of tenant names, got %s", kindName(v))
		} else {
			for i, t := range v.Content {
				name := p.name(t, fmt.Sprintf("tenants[%d]", i))
				if name == "" {
					continue
				}
				if tenants[name] {
					p.at(t, "tenants[%d]: duplicate tenant %q", i, name)
					continue
				}
				tenants[name] = true
				app.Tenants = append(app.Tenants, name)
			}
		}
	}
	v := f["entities"]
	switch {
	case v == nil:
		p.at(n, "blueprint: entities is required")
		return app
	case v.Kind != yaml.SequenceNode || len(v.Content) == 0:
		p.at(v, "entities: expected a non-empty list of entities, got %s", kindName(v))
		return app
	}
	for i, en := range v.Content {
		en = deref(en)
		e := p.entity(app, en, i, tenants)
		if e.ID != "" {
			if prev, dup := p.entityPos[e.ID]; dup {
				p.at(en, "entities[%d]: duplicate entity id %q (first at line %d)", i, e.ID, prev.Line)
				continue
			}
			p.entityPos[e.ID] = en
		}
		app.Entities = append(app.Entities, e)
	}
	return app
}

var entityFields = []string{"id", "type", "count", "tenant", "config", "resources", "health", "depends_on",
	"policies", "command", "image", "env", "ports"}

func (p *parser) entity(app *Application, n *yaml.Node, i int, tenants map[string]bool) Entity {
	e := Entity{Count: 1, Pos: p.pos(n)}
	what := fmt.Sprintf("entities[%d]", i)
	if n.Kind == yaml.MappingNode {
		for j := 0; j+1 < len(n.Content); j += 2 {
			if k, v := n.Content[j], n.Content[j+1]; k.Value == "id" && v.Kind == yaml.ScalarNode && ValidName(v.Value) == nil {
				what = v.Value
			}
		}
	}
	f := p.fields(n, what, entityFields...)
	if n.Kind != yaml.MappingNode {
		return e
	}
	if v := f["id"]; v != nil {
		e.ID = p.name(v, what+".id")
		if e.ID != "" {
			if name := discovery.ServiceName(app.Name, e.ID); app.Name != "" && len(name) > MaxNameLen {
				p.at(v, "%s: job and service name %q is longer than %d characters", what, name, MaxNameLen)
			}
		}
	} else {
		p.at(n, "%s: id is required", what)
	}
	var ti TypeInfo
	typeOK := false
	if v := f["type"]; v != nil {
		e.Type = p.str(v, what+".type")
		if ti, typeOK = LookupType(e.Type); !typeOK && e.Type != "" {
			p.at(v, "%s: unknown type %q (known types: %s)", what, truncate(e.Type), strings.Join(typeNames(), ", "))
		}
	} else {
		p.at(n, "%s: type is required", what)
	}
	if v := f["count"]; v != nil {
		if c, ok := p.int(v, what+".count"); ok {
			switch {
			case c < 0:
				p.at(v, "%s: count %d is negative", what, c)
			case c > MaxCount:
				p.at(v, "%s: count %d is above the maximum %d", what, c, MaxCount)
			}
			e.Count = c
		}
	}
	if v := f["tenant"]; v != nil {
		e.Tenant = p.name(v, what+".tenant")
		if e.Tenant != "" && !tenants[e.Tenant] {
			p.at(v, "%s: tenant %q is not listed in tenants", what, e.Tenant)
		}
	}
	if v := f["resources"]; v != nil {
		rf := p.fields(v, what+".resources", "cpu", "memory_mb")
		if x := rf["cpu"]; x != nil {
			if c, ok := p.int(x, what+".resources.cpu"); ok {
				if c < 1 {
					p.at(x, "%s.resources.cpu: must be at least 1 (MHz)", what)
				}
				e.Resources.CPU = c
			}
		}
		if x := rf["memory_mb"]; x != nil {
			if m, ok := p.int(x, what+".resources.memory_mb"); ok {
				if m < 1 {
					p.at(x, "%s.resources.memory_mb: must be at least 1", what)
				}
				e.Resources.MemoryMB = m
			}
		}
	}
	if v := f["command"]; v != nil {
		e.Command = p.strs(v, what+".command")
		if len(e.Command) == 0 || e.Command[0] == "" {
			p.at(v, "%s.command: must name an executable", what)
		}
	}
	if v := f["image"]; v != nil {
		e.Image = p.str(v, what+".image")
		if strings.TrimSpace(e.Image) == "" || strings.ContainsAny(e.Image, " \t\n") {
			p.at(v, "%s.image: %q is not an image reference", what, truncate(e.Image))
		}
	}
	if v := f["env"]; v != nil {
		e.Env = p.strMap(v, what+".env")
		for k := range e.Env {
			if !envRe.MatchString(k) {
				p.at(v, "%s.env: %q is not an environment variable name", what, truncate(k))
			}
		}
	}
	portNames := map[string]bool{}
	if v := f["ports"]; v != nil {
		if v.Kind != yaml.SequenceNode {
			p.at(v, "%s.ports: expected a list, got %s", what, kindName(v))
		} else {
			for j, pn := range v.Content {
				pw := fmt.Sprintf("%s.ports[%d]", what, j)
				pf := p.fields(pn, pw, "name", "static", "proto")
				var port Port
				if x := pf["name"]; x != nil {
					port.Name = p.name(x, pw+".name")
				} else if pn.Kind == yaml.MappingNode {
					p.at(pn, "%s: name is required", pw)
				}
				if portNames[port.Name] && port.Name != "" {
					p.at(pn, "%s: duplicate port %q", pw, port.Name)
				}
				portNames[port.Name] = true
				if x := pf["static"]; x != nil {
					if s, ok := p.int(x, pw+".static"); ok {
						if s < 1 || s > 65535 {
							p.at(x, "%s.static: %d is not a port number", pw, s)
						}
						port.Static = s
					}
				}
				port.Proto = "tcp"
				if x := pf["proto"]; x != nil {
					port.Proto = p.str(x, pw+".proto")
					if port.Proto != "tcp" && port.Proto != "udp" {
						p.at(x, "%s.proto: %q is not tcp or udp", pw, truncate(port.Proto))
					}
				}
				e.Ports = append(e.Ports, port)
			}
		}
	}
	if v := f["health"]; v != nil {
		e.Health = p.health(v, what+".health", e, portNames)
	}
	if e.Type == TypeGeneric {
		if len(e.Command) == 0 && e.Image == "" {
			p.at(n, "%s: a generic entity needs a command or an image", what)
		}
	} else if typeOK {
		if f["command"] != nil {
			p.at(f["command"], "%s: command is only for generic entities (type %s runs a built-in command)", what, e.Type)
		}
		if f["ports"] != nil {
			p.at(f["ports"], "%s: ports are only for generic entities", what)
		}
		if f["image"] != nil && !ti.Third {
			p.at(f["image"], "%s: image applies only to third-party types and generic entities", what)
		}
	}
	if v := f["config"]; v != nil {
		e.Config = p.config(v, what+".config", ti, typeOK, e.ID)
	}
	if typeOK {
		for _, k := range ti.Required {
			if e.Config[k] == nil {
				p.at(n, "%s: type %s needs config.%s (%s)", what, e.Type, k, ti.Config[k].Help)
			}
		}
	}
	if v := f["depends_on"]; v != nil {
		items := []*yaml.Node{v}
		if v.Kind == yaml.SequenceNode {
			items = v.Content
		}
		seen := map[string]bool{}
		for j, d := range items {
			d = deref(d)
			id := p.name(d, fmt.Sprintf("%s.depends_on[%d]", what, j))
			if id == "" {
				continue
			}
			if seen[id] {
				p.at(d, "%s.depends_on: %q listed twice", what, id)
				continue
			}
			seen[id] = true
			e.DependsOn = append(e.DependsOn, id)
			if e.ID != "" {
				p.dependsOn[e.ID] = append(p.dependsOn[e.ID], d)
			}
		}
	}
	if v := f["policies"]; v != nil {
		items := []*yaml.Node{v}
		if v.Kind == yaml.SequenceNode {
			items = v.Content
		}
		for _, pn := range items {
			e.Policies = append(e.Policies, *deref(pn))
		}
	}
	return e
}

var envRe = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

func (p *parser) health(n *yaml.Node, what string, e Entity, ports map[string]bool) *Health {
	h := &Health{}
	f := p.fields(n, what, "http", "tcp", "port", "interval", "timeout")
	if v := f["http"]; v != nil {
		h.HTTP = p.str(v, what+".http")
		if !strings.HasPrefix(h.HTTP, "/") {
			p.at(v, "%s.http: %q must be a path starting with /", what, truncate(h.HTTP))
		}
	}
	if v := f["tcp"]; v != nil {
		h.TCP = p.bool(v, what+".tcp")
	}
	if h.HTTP != "" && h.TCP {
		p.at(n, "%s: set http or tcp, not both", what)
	}
	if v := f["port"]; v != nil {
		h.Port = p.name(v, what+".port")
		if e.Type == TypeGeneric && h.Port != "" && !ports[h.Port] {
			p.at(v, "%s.port: %q is not one of the entity's ports", what, h.Port)
		}
	}
	if v := f["interval"]; v != nil {
		h.Interval = p.dur(v, what+".interval")
	}
	if v := f["timeout"]; v != nil {
		h.Timeout = p.dur(v, what+".timeout")
	}
	return h
}

func (p *parser) config(n *yaml.Node, what string, ti TypeInfo, typeOK bool, from string) Config {
	if n.Kind != yaml.MappingNode {
		p.at(n, "%s: expected a mapping, got %s", what, kindName(n))
		return nil
	}
	var allowed []string
	if typeOK && ti.Config != nil {
		for k := range ti.Config {
			allowed = append(allowed, k)
		}
		sortStrings(allowed)
	}
	if typeOK && ti.Config == nil && ti.Name != TypeGeneric {
		allowed = []string{}
	}
	f := p.fields(n, what, allowed...)
	c := Config{}
	for k, v := range f {
		c[k] = v
		if !typeOK || ti.Config == nil {
			continue
		}
		fw := what + "." + k
		switch ti.Config[k].Kind {
		case KindString:
			p.str(v, fw)
		case KindInt:
			if x, ok := p.int(v, fw); ok && x < 0 {
				p.at(v, "%s: must not be negative", fw)
			}
		case KindPort:
			if x, ok := p.int(v, fw); ok && (x < 1 || x > 65535) {
				p.at(v, "%s: %d is not a port number", fw, x)
			}
		case KindBool:
			p.bool(v, fw)
		case KindDuration:
			p.dur(v, fw)
		case KindStrings:
			p.strs(v, fw)
		case KindStringMap:
			p.strMap(v, fw)
		case KindRef:
			if id := p.name(v, fw); id != "" {
				p.refs = append(p.refs, ref{from: from, to: id, node: v, what: fw})
			}
		case KindOutputs:
			items := []*yaml.Node{v}
			if v.Kind == yaml.SequenceNode {
				items = v.Content
			}
			p.strs(v, fw)
			for j, it := range items {
				p.output(it, fmt.Sprintf("%s[%d]", fw, j), from)
			}
		case KindRefs:
			items := []*yaml.Node{v}
			if v.Kind == yaml.SequenceNode {
				items = v.Content
			}
			for j, it := range items {
				if id := p.name(it, fmt.Sprintf("%s[%d]", fw, j)); id != "" {
					p.refs = append(p.refs, ref{from: from, to: id, node: it, what: fmt.Sprintf("%s[%d]", fw, j)})
				}
			}
		}
	}
	return c
}

// output checks one config.output value with the collector's own parser
// (collector/output); kafka:ENTITY[/TOPIC] and elasticsearch:ENTITY must
// name an entity of the application.
func (p *parser) output(n *yaml.Node, what, from string) {
	if n.Kind != yaml.ScalarNode {
		return
	}
	if kind, ent, _, ok := output.Ref(n.Value); ok {
		if err := ValidName(ent); err != nil {
			p.at(n, "%s: %s needs an entity id or an address: %v", what, kind, err)
			return
		}
		p.refs = append(p.refs, ref{from: from, to: ent, node: n, what: what})
		return
	}
	if _, err := output.Parse(n.Value); err != nil {
		p.at(n, "%s: %v (in a blueprint kafka:ENTITY[/TOPIC] and elasticsearch:ENTITY may name an entity)", what, err)
	}
}

func sortStrings(s []string) {
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && s[j] < s[j-1]; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
}

// check runs the whole-application checks: references, cycles, policies.
func (p *parser) check(app *Application) {
	ids := map[string]bool{}
	for _, e := range app.Entities {
		ids[e.ID] = true
	}
	for _, e := range app.Entities {
		for _, d := range p.dependsOn[e.ID] {
			if d.Value == e.ID {
				p.at(d, "%s.depends_on: cycle: %s -> %s", e.ID, e.ID, e.ID)
			} else if !ids[d.Value] {
				p.at(d, "%s.depends_on: %q: no such entity", e.ID, d.Value)
			}
		}
	}
	for _, r := range p.refs {
		if !ids[r.to] {
			p.at(r.node, "%s: %q: no such entity", r.what, r.to)
		} else if r.to == r.from {
			p.at(r.node, "%s: an entity cannot refer to itself", r.what)
		}
	}
	p.cycles(app, ids)
	for i := range app.Entities {
		p.policies(app, &app.Entities[i], ids)
	}
}

// cycles reports every depends_on cycle once, with its path, at the
// depends_on item that closes it.
func (p *parser) cycles(app *Application, ids map[string]bool) {
	const (
		white = iota
		grey
		black
	)
	color := map[string]int{}
	var stack []string
	var visit func(id string)
	visit = func(id string) {
		color[id] = grey
		stack = append(stack, id)
		for _, d := range p.dependsOn[id] {
			to := d.Value
			if !ids[to] || to == id {
				continue
			}
			switch color[to] {
			case white:
				visit(to)
			case grey:
				start := 0
				for k, s := range stack {
					if s == to {
						start = k
					}
				}
				path := append(append([]string{}, stack[start:]...), to)
				p.at(d, "%s.depends_on: cycle: %s", id, strings.Join(path, " -> "))
			}
		}
		stack = stack[:len(stack)-1]
		color[id] = black
	}
	for _, e := range app.Entities {
		if e.ID != "" && color[e.ID] == white {
			visit(e.ID)
		}
	}
}

func (p *parser) policies(app *Application, e *Entity, ids map[string]bool) {
	for i := range e.Policies {
		n := &e.Policies[i]
		pol, err := policies.Parse(p.file, n)
		if err != nil {
			p.list = append(p.list, err)
			continue
		}
		if (pol.Target.App != "" && pol.Target.App != app.Name) || (pol.Target.Entity != "" && pol.Target.Entity != e.ID) {
			p.at(n, "%s.policies[%d]: target %s is not this entity (%s/%s)", e.ID, i, pol.Target, app.Name, e.ID)
		}
		pol.Target = policies.Target{App: app.Name, Entity: e.ID}
		if e.Count < pol.Min || e.Count > pol.Max {
			p.at(n, "%s: count %d is outside its policy's min %d and max %d", e.ID, e.Count, pol.Min, pol.Max)
		}
		for _, c := range pol.Checks {
			if c.From != "" && !ids[c.From] {
				p.at(n, "%s.policies[%d]: check %q reads from %q: no such entity", e.ID, i, c.Name, c.From)
			}
		}
		e.Scaling = append(e.Scaling, pol)
	}
}
