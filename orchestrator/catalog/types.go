package catalog

import (
	"fmt"

	"github.com/elk-project/elk/blueprints"
)

// Type is everything elk knows about a built-in entity type, in one place:
// each type is one file (type_*.go) that registers its Type at init. Adding
// a type is adding a file.
type Type struct {
	// Info is the type's name, help and config schema (keys, kinds,
	// required ones), which blueprints validates against.
	Info blueprints.TypeInfo
	// Build is the recipe: it fills the builder's spec (command or image,
	// env, ports, health check, resources) for the local or the nomad
	// target (b.local()).
	Build func(b *builder) error
	// Image is the default container image of a third-party type.
	Image string
	// Scraped says the type serves Prometheus metrics on its "metrics"
	// port: a prometheus entity scrapes it unless told otherwise.
	Scraped bool
	// Rates are the counters the server turns into live rates in status:
	// rate name -> metric family summed over every instance.
	Rates map[string]string
}

// Rates returns the live rates of a type, if it has any.
func Rates(typ string) (map[string]string, bool) {
	r := types[typ].Rates
	return r, len(r) > 0
}

// types are the registered built-in types, by name.
var types = map[string]Type{}

// register adds a built-in type; blueprints learns its schema.
func register(t Type) {
	if _, dup := types[t.Info.Name]; dup {
		panic(fmt.Sprintf("catalog: type %s registered twice", t.Info.Name))
	}
	types[t.Info.Name] = t
	blueprints.RegisterType(t.Info)
}
