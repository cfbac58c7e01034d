// Package servicetest checks the development services that deploy/dev/services
// runs: a real Elasticsearch, Kafka broker and Prometheus on loopback. Its tests
// read ELK_TEST_ES, ELK_TEST_KAFKA, ELK_TEST_PROMETHEUS and
// ELK_TEST_PROMETHEUS_TARGETS (set by `. deploy/dev/env`) and skip when one is
// unset, unless ELK_TEST_REQUIRE_SERVICES=1.
package servicetest
