# Shoal's build and test entry points. `make test` is the test command CI runs.
GO      ?= go
BIN     ?= bin/shoal
PKGS    ?= ./...
SHELL   := /bin/bash
STATICCHECK_VERSION ?= v0.8.2

.PHONY: all build up runtime-deps test test-e2e bench bench-registry bench-managedfields bench-endpoints bench-deployment bench-dns bench-xds bench-sched bench-podstart bench-hpa bench-proxy bench-rbac bench-dashboard bench-failover dashboard-screenshot lint deps clean

all: build

deps:
	$(GO) mod download

build:
	$(GO) build -o $(BIN) ./cmd/shoal

# Build and run a whole cluster on this machine (data in ./shoal-data). As
# root its node agent runs pods through containerd: Debian's containerd,
# runc and CNI plugins are installed first if missing.
up: build runtime-deps
	./$(BIN) up

# The container runtime the node agent starts (root only; elsewhere shoal up
# runs without an agent and says why).
runtime-deps:
	@if [ "$$(id -u)" = 0 ] && ! { command -v containerd && command -v runc && [ -e /usr/lib/cni/bridge ]; } >/dev/null; then \
		apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y containerd runc containernetworking-plugins; fi

# vet, every test with the race detector, then every fuzz target fuzzed for
# FUZZTIME each. Each failing test's output shows as it fails; the run ends
# with the skipped tests and their reasons and one line of passed / failed /
# skipped (test/testsummary). Tests that need root, kubectl, node, python3,
# containerd, the registry or busybox skip elsewhere with a reason, and fail
# instead for each capability listed in SHOAL_TEST_REQUIRE (.ci/run sets it;
# see internal/testenv).
FUZZTIME ?= 10s
test:
	$(GO) vet $(PKGS)
	$(GO) run ./test/testsummary -fuzz=$(FUZZTIME) $(GO) test -json -race -count=1 -timeout 15m $(PKGS)

# The end-to-end tests alone (real kubectl, real shoal processes).
test-e2e:
	$(GO) run ./test/testsummary $(GO) test -json -race -count=1 -timeout 15m ./test/e2e/...

# Benchmarks print tables; they are not part of `make test`.
bench: bench-registry bench-managedfields bench-endpoints bench-deployment bench-dns bench-xds bench-sched bench-podstart bench-hpa bench-proxy bench-rbac bench-dashboard bench-failover

# The dashboard against `shoal up` (child process) with 100 Services whose
# traffic changes every second: page bytes, stream open → first message,
# server CPU per connected dashboard per update; then the time to first data
# in headless Chromium (TestBrowserLoginLink's log).
bench-dashboard:
	$(GO) run ./test/bench/dashboard
	$(GO) test -count=1 -run 'TestBrowserLoginLink$$' -v ./controlplane/dashboard/ | grep 'time to first data'

# docs/dashboard.png, the README's screenshot, from the browser test.
dashboard-screenshot:
	SHOAL_DASHBOARD_SCREENSHOT=$(CURDIR)/docs/dashboard.png $(GO) test -count=1 -run 'TestBrowser$$' ./controlplane/dashboard/

# Failure detection (root): two-node clusters (netns nodes, agent
# processes), the agent of one SIGKILLed with a Deployment's pods on it; a
# table of seconds until the node is NotReady, its pods are out of the
# EndpointSlices, DNS and EDS, deleted, and replaced on the other node
# (each run and the median); the restarted agent must stop its old pods.
FAILOVER_RUNS ?= 5
bench-failover:
	$(GO) test -run '^$$' -bench '^BenchmarkFailover$$' -benchtime 1x -timeout 30m ./test/e2e/multinode -failover-runs=$(FAILOVER_RUNS)

bench-registry:
	$(GO) run ./test/bench/registry

# What recording managedFields costs a write: Deployment creates and
# updates through the registry into an embedded etcd, with and without,
# 1 and 8 writers (writes/s, process CPU per write, bytes in etcd), and the
# field manager alone on a pod status write.
bench-managedfields:
	$(GO) test -run '^$$' -bench 'Writes|TrackUpdate' -benchtime=1000x -count=3 ./controlplane/registry

bench-endpoints:
	$(GO) run ./test/bench/endpoints

bench-deployment:
	$(GO) run ./test/bench/deployment

# Shoal's resolver against CoreDNS's kubernetes plugin on the same objects,
# measured with dnsperf (Debian's package, installed here if missing): every
# answer checked (rcode, answer count), then 5 interleaved rounds of QPS and
# of latency, median and range, lost queries; fails if an answer is wrong.
bench-dns:
	@command -v dnsperf >/dev/null || { apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y dnsperf; }
	$(GO) run ./test/bench/dns
	$(GO) test -run '^$$' -bench '^BenchmarkChangeToAnswer$$' ./dns/cluster

# The xDS server (`shoal up` as a child process) with 1000 services × 10
# endpoints and 1000 ADS clients: push latency, memory per client and per
# endpoint, pushes per rollout.
bench-xds:
	$(GO) run ./test/bench/xds

# The scheduler placing 10,000 bare pods with CPU/memory requests on 1000
# simulated nodes (Node, Lease and load report each; no processes), all in
# one process on an embedded etcd: pods/s and p50/p99 create → bound.
bench-sched:
	$(GO) run ./test/bench/sched

# Pod start-up on the real node agent (root; `shoal up --agent=on` with its
# containerd, as a child): create → Running+Ready → in DNS → in EDS,
# p50/p99 over 100 pods at 10/s and as a burst of 100, from a cached image
# and as image-less host commands; and a cold pull of a 10 MB image from a
# registry on loopback (Debian's docker-registry, installed if missing).
bench-podstart: runtime-deps
	@command -v docker-registry >/dev/null || { apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y docker-registry; }
	$(GO) run ./test/bench/podstart

# The HPA on the real node agent (root; the e2e test TestProcess/UpScalesOnCPU):
# a busy-looping pod's CPU load to 3 Ready pods, and the load's end to 1 pod,
# with Kubernetes' 15 s sync period and a 5 s scale-down stabilization window.
bench-hpa: runtime-deps
	set -o pipefail; $(GO) test -count=1 -timeout 10m -run 'TestProcess/UpScalesOnCPU' -v ./test/e2e | grep -E 'CPU load|load stopped|get hpa|^(--- |ok|FAIL)'

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
	@PATH="$$PATH:$$($(GO) env GOPATH)/bin" command -v staticcheck >/dev/null || $(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)
	PATH="$$PATH:$$($(GO) env GOPATH)/bin" staticcheck $(PKGS)
	$(GO) test -count=1 -run TestDependencyDirections ./api/

clean:
	rm -rf bin
	$(GO) clean -testcache
