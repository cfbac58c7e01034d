package e2e

import (
	"github.com/elk-project/elk/orchestrator/discovery/consul"
	"github.com/elk-project/elk/policies/engine"
)

// The Consul session lock is what elk servers on the nomad target elect
// the policy leader with.
var _ engine.Lock = (*consul.Lock)(nil)
