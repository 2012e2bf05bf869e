# Shoal's build and test entry points. `make test` is the test command CI runs.
GO      ?= go
BIN     ?= bin/shoal
PKGS    ?= ./...

.PHONY: all build up test test-e2e bench bench-registry bench-endpoints bench-deployment bench-dns bench-xds bench-sched bench-proxy bench-rbac lint deps clean

all: build

deps:
	$(GO) mod download

build:
	$(GO) build -o $(BIN) ./cmd/shoal

# Build and run a whole cluster on this machine (data in ./shoal-data).
up: build
	./$(BIN) up

# vet + every test with the race detector. Tests that need root or network
# namespaces skip elsewhere with a reason; as root they run.
test:
	$(GO) vet $(PKGS)
	$(GO) test -race -count=1 -timeout 15m $(PKGS)
	$(GO) test -run='^$$' -fuzz=FuzzResolver -fuzztime=10s ./dns/resolver/

# The end-to-end tests alone (real kubectl, real shoal processes).
test-e2e:
	$(GO) test -race -count=1 -timeout 15m ./test/e2e/...

# Benchmarks print tables; they are not part of `make test`.
bench: bench-registry bench-endpoints bench-deployment bench-dns bench-xds bench-sched bench-proxy bench-rbac

bench-registry:
	$(GO) run ./test/bench/registry

bench-endpoints:
	$(GO) run ./test/bench/endpoints

bench-deployment:
	$(GO) run ./test/bench/deployment

# Shoal's resolver against CoreDNS's kubernetes plugin on the same objects,
# measured with dnsperf (Debian's package, installed here if missing).
bench-dns:
	@command -v dnsperf >/dev/null || { apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y dnsperf; }
	$(GO) run ./test/bench/dns

# The xDS server (`shoal up` as a child process) with 1000 services × 10
# endpoints and 1000 ADS clients: push latency, memory per client and per
# endpoint, pushes per rollout.
bench-xds:
	$(GO) run ./test/bench/xds

# The scheduler placing 10,000 bare pods with CPU/memory requests on 1000
# simulated nodes (Node, Lease and load report each; no processes), all in
# one process on an embedded etcd: pods/s and p50/p99 create → bound. Then
# pod start-up on the real node agent (root; `shoal up --agent=on` as a
# child): create → Running+Ready → in DNS → in EDS, p50/p99 over 100 pods.
bench-sched:
	$(GO) run ./test/bench/sched
	$(GO) run ./test/bench/podstart

# The node proxy (`shoal proxy`, root: it puts the ClusterIP on lo) against
# HAProxy (leastconn) with wrk on loopback, per-request HTTP balancing over
# three local backends: throughput, p50/p99, CPU per request, and a slow
# backend's share. haproxy and wrk are Debian's, installed here if missing.
bench-proxy:
	@command -v haproxy >/dev/null || { apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y haproxy; }
	@command -v wrk >/dev/null || { apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y wrk; }
	$(GO) run ./test/bench/proxy

# The RBAC authorizer: one decision, and one rebuild of its index, against
# 1000 namespaces' roles and bindings plus the default policy.
bench-rbac:
	$(GO) test -run '^$$' -bench . -benchmem ./controlplane/rbac/

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet $(PKGS)
	@if command -v staticcheck >/dev/null; then staticcheck $(PKGS); else echo "staticcheck not installed; skipped"; fi

clean:
	rm -rf bin
	$(GO) clean -testcache
