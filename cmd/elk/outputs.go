package main

import (
	"fmt"

	"github.com/elk-project/elk/collector/sink"
)

// openOutput turns an --output value (file:PATH, stdout, elasticsearch:URL,
// kafka:BROKERS/TOPIC) into a sink.
func openOutput(spec string) (sink.Sink, error) {
	return nil, fmt.Errorf("output %q: not implemented yet", spec)
}
