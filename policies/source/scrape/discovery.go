package scrape

import (
	"context"
	"net"
	"strconv"

	"github.com/elk-project/elk/orchestrator/discovery"
)

// FromRegistry finds an entity's /metrics endpoints through discovery: each
// healthy instance of discovery.ServiceName(app, entity) is scraped at
// http://ADDRESS:PORT/metrics, where PORT is the instance's meta
// "port_<portName>" (how targets publish named ports, e.g. port_metrics)
// or else its registered port.
func FromRegistry(reg discovery.Registry, portName string) Targets {
	return TargetsFunc(func(ctx context.Context, app, entity string) ([]string, error) {
		svcs, err := reg.Resolve(ctx, discovery.ServiceName(app, entity))
		if err != nil {
			return nil, err
		}
		out := make([]string, 0, len(svcs))
		for _, s := range svcs {
			port := s.Port
			if p, err := strconv.Atoi(s.Meta["port_"+portName]); err == nil && p > 0 {
				port = p
			}
			if port == 0 {
				continue
			}
			host := s.Address
			if host == "" || host == "0.0.0.0" {
				host = "127.0.0.1"
			}
			out = append(out, "http://"+net.JoinHostPort(host, strconv.Itoa(port))+"/metrics")
		}
		return out, nil
	})
}
