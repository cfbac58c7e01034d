# elk — build, test and check targets. `make help` lists them.
GO        ?= go
BIN       ?= bin/elk
PKGS      ?= ./...
TEST_TIMEOUT ?= 25m

.PHONY: help build test test-unit test-integration services-up services-down bench fuzz lint check-deps clean

help: ## list targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-18s %s\n", $$1, $$2}'

build: ## build the elk binary into bin/elk
	$(GO) build -o $(BIN) ./cmd/elk

# Suites that measure the machine run one package at a time, after every
# other package: test/collector asserts zero loss at 20,000 samples/s,
# policies/e2e times scaling decisions against a live load, and
# test/pipeline stops and restarts the shared Kafka and Elasticsearch.
SERIAL = ./test/collector/... ./policies/e2e/... ./test/pipeline/...

test: services-up ## start the dev services (installs them on a fresh machine), then run every test
	. deploy/dev/env && export ELK_TEST_REQUIRE_SERVICES=1 && \
	  $(GO) test -count=1 -timeout $(TEST_TIMEOUT) $$($(GO) list $(PKGS) | grep -v -e '/test/collector' -e '/test/pipeline' -e '/policies/e2e') && \
	  $(GO) test -count=1 -p 1 -timeout $(TEST_TIMEOUT) $(SERIAL)

test-unit: ## run the tests that need no services (integration tests skip)
	$(GO) test -count=1 -timeout $(TEST_TIMEOUT) $(PKGS)

test-integration: ## run the Nomad/Consul suites (conformance, deploy, the policy spike on Nomad) against NOMAD_ADDR / CONSUL_HTTP_ADDR
	@test -n "$$NOMAD_ADDR" || echo "NOMAD_ADDR unset: the nomad suites will skip"
	@test -n "$$CONSUL_HTTP_ADDR" || echo "CONSUL_HTTP_ADDR unset: the consul suite will skip"
	$(GO) test -count=1 -v -run 'Conformance|Integration' ./orchestrator/...
	$(GO) test -count=1 -v -timeout 10m -run 'Integration' ./policies/e2e

services-up: ## install (first time) and start Elasticsearch, Kafka and Prometheus on loopback
	deploy/dev/services up

services-down: ## stop the dev services
	deploy/dev/services down

bench: ## decoder (vs goflow2), routing and policy benchmarks
	cd bench && $(GO) test -run '^$$' -bench . -benchmem
	$(GO) test -run '^$$' -bench . -benchmem ./collector/route/ ./policies/...

fuzz: ## fuzz the sFlow decoder and the blueprint loader (FUZZTIME, default 1m each)
	$(GO) test -run '^$$' -fuzz FuzzDecode -fuzztime $${FUZZTIME:-1m} ./collector/sflow
	$(GO) test -run '^$$' -fuzz FuzzLoad -fuzztime $${FUZZTIME:-1m} ./blueprints

lint: ## gofmt, go vet, staticcheck when installed
	@out=$$(gofmt -l $$(git ls-files '*.go')); test -z "$$out" || { echo "gofmt needed:"; echo "$$out"; exit 1; }
	$(GO) vet $(PKGS)
	@if command -v staticcheck >/dev/null; then staticcheck $(PKGS); else echo "staticcheck not installed: skipped"; fi

# Domain packages: they and everything they import (transitively) must not
# use a client SDK; only adapters (orchestrator/target/nomad,
# orchestrator/discovery/consul, collector/sink/elasticsearch, ...) may.
DOMAIN ?= ./blueprints/... ./policies ./policies/engine ./policies/simulate ./policies/source ./policies/source/scrape \
	./orchestrator ./orchestrator/api ./orchestrator/client ./orchestrator/target ./orchestrator/discovery \
	./orchestrator/catalog ./orchestrator/auth ./orchestrator/statedir ./orchestrator/kv ./orchestrator/secrets ./orchestrator/tenant \
	./collector ./collector/sflow ./collector/route ./collector/flowdoc ./collector/receiver ./collector/sink \
	./collector/internal/ratelog ./collector/internal/logtest ./collector/output ./agents/synth

check-deps: ## domain packages must not import client SDKs, directly or not (only adapters may)
	@bad=$$($(GO) list -f '{{.ImportPath}} {{join .Deps " "}}' $(DOMAIN) \
	  | awk '{ for (i = 2; i <= NF; i++) if ($$i ~ /hashicorp\/(nomad|consul)\/api|go-elasticsearch|franz-go/) { print $$1 " -> " $$i; break } }'); \
	  if [ -n "$$bad" ]; then echo "domain package depends on a client SDK:"; echo "$$bad"; exit 1; else echo "check-deps: ok"; fi

clean: ## remove build output
	rm -rf bin
