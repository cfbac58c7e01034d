// Package servicetest checks the development services that deploy/dev/services
// runs: a real Elasticsearch, Kafka broker and Prometheus on loopback. Its tests
// read ELK_TEST_ES, ELK_TEST_KAFKA, ELK_TEST_PROMETHEUS and
// ELK_TEST_PROMETHEUS_TARGETS (set by `. deploy/dev/env`) and skip when one is
// unset, unless ELK_TEST_REQUIRE_SERVICES=1.
//
// Service and Missing give every package's tests that need a real service
// (or an installed tool) the same rule: skip when it is absent, fail under
// ELK_TEST_REQUIRE_SERVICES=1, so make test cannot pass by skipping.
package servicetest
