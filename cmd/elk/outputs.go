package main

import (
	"fmt"

	"github.com/elk-project/elk/collector/sink"
)

// openOutput turns an --output value (file:PATH, stdout, elasticsearch:URL,
// kafka:BROKERS/TOPIC) into a sink.
func openOutput(spec string) (sink.Sink, error) {
	// elasticsearch:URL and kafka:BROKERS/TOPIC (see ingest.go).
	if s, ok, err := openPipelineOutput(spec, nil, nil); ok {
		return s, err
	}
	return nil, fmt.Errorf("output %q: not implemented yet", spec)
}
