// Package e2e holds the policy engine's end-to-end test: a real elk server
// on the local target runs collectors, a synthetic agent drives a traffic
// spike, and the policy scales the collectors on their measured ingest rate
// (through a real Prometheus when its binary is installed, else through the
// built-in scraper). TestIntegrationNomadSpike runs the same scenario on a
// real Nomad (NOMAD_ADDR) through the nomad target.
package e2e
