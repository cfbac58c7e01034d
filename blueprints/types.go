package blueprints

import (
	"fmt"
	"sort"
	"sync"
)

// TypeGeneric is an entity given by its command or image.
const TypeGeneric = "generic"

// Kind is the expected shape of a config value.
type Kind int

// Config value kinds.
const (
	KindString    Kind = iota
	KindInt            // an integer
	KindPort           // an integer in 1..65535
	KindBool           // true or false
	KindDuration       // a Go duration such as 10s
	KindStrings        // a string or a list of strings
	KindStringMap      // a mapping of strings to strings
	KindRef            // the id of another entity of the application
	KindRefs           // a list of entity ids
	KindAny            // any YAML value
	KindOutputs        // collector outputs (see collector/output); kafka:ENTITY and elasticsearch:ENTITY refer to entities
)

func (k Kind) String() string {
	return [...]string{"a string", "an integer", "a port number", "true or false", "a duration",
		"a string or a list of strings", "a mapping of strings", "an entity id", "a list of entity ids",
		"any value", "a list of outputs"}[k]
}

// Field describes one config key of a type.
type Field struct {
	Kind Kind
	Help string
}

// TypeInfo describes a built-in entity type.
type TypeInfo struct {
	Name string
	Help string
	// Third says the type is third-party software (run from an image or
	// an installed command) rather than part of the elk binary.
	Third  bool
	Config map[string]Field
	// Required are the config keys an entity of the type must set.
	Required []string
}

// generic is the one type the blueprint format itself defines: an entity
// given by its command or image, env and ports (see Entity).
var generic = TypeInfo{Name: TypeGeneric, Help: "any command or container image"}

// registry holds the types the blueprint format knows: generic and those
// registered by the packages that run them (each built-in type is one file
// of orchestrator/catalog, with its schema and its recipe).
var registry = struct {
	sync.RWMutex
	m map[string]TypeInfo
}{m: map[string]TypeInfo{TypeGeneric: generic}}

// RegisterType makes a type known to Parse. It panics when the name is
// taken or invalid: types are registered once, at init.
func RegisterType(t TypeInfo) {
	if err := ValidName(t.Name); err != nil {
		panic(fmt.Sprintf("blueprints: type name: %v", err))
	}
	for _, k := range t.Required {
		if _, ok := t.Config[k]; !ok {
			panic(fmt.Sprintf("blueprints: type %s: required key %q is not in its config", t.Name, k))
		}
	}
	registry.Lock()
	defer registry.Unlock()
	if _, dup := registry.m[t.Name]; dup {
		panic("blueprints: type " + t.Name + " registered twice")
	}
	registry.m[t.Name] = t
}

// Types returns the known entity types, sorted by name.
func Types() []TypeInfo {
	registry.RLock()
	defer registry.RUnlock()
	out := make([]TypeInfo, 0, len(registry.m))
	for _, t := range registry.m {
		out = append(out, t)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// LookupType returns the type called name.
func LookupType(name string) (TypeInfo, bool) {
	registry.RLock()
	defer registry.RUnlock()
	t, ok := registry.m[name]
	return t, ok
}

func typeNames() []string {
	var out []string
	for _, t := range Types() {
		out = append(out, t.Name)
	}
	return out
}
