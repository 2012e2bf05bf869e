package main

import (
	"fmt"
	"io"
	"runtime"
	"slices"
	"time"
)

// Targets from the xDS issue.
const (
	targetP99       = 100 * time.Millisecond
	targetPerClient = 50_000 // bytes
)

func report(w io.Writer, r *results) {
	o := r.o
	pods := o.rollout
	fmt.Fprintf(w, "\n| scenario | clients | p50 | p99 | RSS per client | RSS per endpoint | pushes for %d-pod rollout | target | met? |\n", pods)
	fmt.Fprintf(w, "|---|--:|--:|--:|--:|--:|--:|---|---|\n")
	for i, l := range r.latency {
		target, met := "p99 < 100 ms", yes(pct(l.fromWrite, 0.99) < targetP99 && l.missed == 0)
		if i > 0 {
			target, met = "(context)", "—"
		}
		fmt.Fprintf(w, "| (a) 1 endpoint of the hot service changed (API write) → the last of N clients has the new EDS | %d | %s | %s | | | | %s | %s |\n",
			l.clients, msec(pct(l.fromWrite, 0.5)), msec(pct(l.fromWrite, 0.99)), target, met)
	}
	n := float64(o.clients)
	perClient := float64(r.conns.rss-r.base.rss) / n
	heapClient, stackClient := (r.conns.heap-r.base.heap)/n, (r.conns.stacks-r.base.stacks)/n
	// RSS can undercount: new clients reuse memory the runtime had kept
	// from earlier peaks. Met only if heap + stacks is under the target too.
	fmt.Fprintf(w, "| (b) server memory per connected ADS client | %d | | | %s (Go heap %s + goroutine stacks %s) | | | < 50 KB | %s |\n",
		o.clients, kb(perClient), kb(heapClient), kb(stackClient), yes(perClient < targetPerClient && heapClient+stackClient < targetPerClient))
	nEndpoints := float64(o.services * o.endpoints)
	fmt.Fprintf(w, "| (b) server memory per endpoint (%d services × %d; the whole `shoal up` process: etcd, API server, caches, DNS, xDS) | 0 | | | | %s (Go heap %s) | | none set | — |\n",
		o.services, o.endpoints, kb(float64(r.loaded.rss-r.empty.rss)/nEndpoints), kb((r.loaded.heap-r.empty.heap)/nEndpoints))
	for i, ro := range r.rollouts {
		target := fmt.Sprintf("< %d (not one push per pod)", ro.pods)
		met := yes(ro.missed == 0 && float64(ro.one) < float64(ro.pods) && ro.serverDelta/float64(ro.clients) < float64(ro.pods))
		if i > 0 {
			target, met = "(context)", "—"
		}
		fmt.Fprintf(w, "| (c) %d-pod rolling update (%d slice writes): EDS responses per client watching the service | %d | | | | | %d (one client); %.1f (server metric ÷ %d) | %s | %s |\n",
			ro.pods, ro.pods, ro.clients, ro.one, ro.serverDelta/float64(ro.clients), ro.clients, target, met)
	}

	fmt.Fprintf(w, "\nHow it was measured (KB = 1000 bytes, MiB = 2^20 bytes):\n\n")
	fmt.Fprintf(w, "- Machine: %d CPUs, %s; 1-minute load average %s at the start, %s at the end (the machine is shared with other work).\n",
		runtime.NumCPU(), r.cpus, r.load0, r.load1)
	fmt.Fprintf(w, "- Server: `shoal up` (embedded etcd, API server, controllers, DNS and xDS in one process) as a child process. Clients: raw ADS state-of-the-world streams (envoy's generated AggregatedDiscoveryServiceClient), one gRPC connection and node id each (user_agent_name alternating \"envoy\" and \"gRPC Go\"), all in this process. Each watches EDS for the hot service, the rollout service and %d random others, and ACKs every response.\n", o.random)
	fmt.Fprintf(w, "- Load: %d services × %d endpoints (selector-less Services + hand-written EndpointSlices labelled managed-by %s, created through the API by %d client-go writers) in %.1f s; every ClusterLoadAssignment complete at an xDS probe client %.1f s after the first write. %d clients connected and had their first response in %.1f s.\n",
		o.services, o.endpoints, managedBy, o.parallel, r.loadTime.Seconds(), r.xdsTime.Seconds(), o.clients, r.connectTime.Seconds())
	fmt.Fprintf(w, "- (a) Each change is a client-go Update of the hot service's EndpointSlice through the API server (HTTPS, then etcd) replacing one endpoint's address with a new one; it is timed from just before the Update call to the moment the last client's Recv returned a response carrying the new address. The next change waits until every client has it, plus %v–%v. With %d changes, p99 is the slowest but none.\n",
		o.gap, o.gap*3/2, o.changes)
	for _, l := range r.latency {
		k := float64(len(l.fromWrite))
		fmt.Fprintf(w, "  - %d clients: from when the Update returned p50 %s, p99 %s; to the first client p50 %s; the Update call itself (API + etcd commit) p50 %s, p99 %s; max %s; changes not at every client within 10 s: %d. CPU per change: server %s, clients and writer %s.\n",
			l.clients, msec(pct(l.fromReturn, 0.5)), msec(pct(l.fromReturn, 0.99)), msec(pct(l.first, 0.5)),
			msec(pct(l.write, 0.5)), msec(pct(l.write, 0.99)), msec(pct(l.fromWrite, 1)), l.missed,
			msec(time.Duration(float64(l.serverCPU)/k)), msec(time.Duration(float64(l.clientCPU)/k)))
	}
	fmt.Fprintf(w, "- (b) Each reading: %v idle; then the server is made to collect garbage (EndpointSlice lists and /metrics scrapes through the API until `go_gc_duration_seconds_count` has risen by 2; it has no GC endpoint) and `go_memstats_heap_alloc_bytes` and `go_memstats_stack_inuse_bytes` are read 1 s after the second GC, once the sweeper has freed its garbage; then %v idle and VmRSS from /proc/<pid>/status (median of 3 readings 0.5 s apart). Per endpoint = (loaded − empty) / %d; per client = (%d connected − none connected, everything loaded) / %d. RSS includes the heap headroom Go keeps (GOGC=100: the heap may grow to twice the live heap before a GC), and a difference of RSS can also undercount, when new objects fill memory the runtime kept from an earlier peak; so \"met?\" for clients needs both RSS and heap + stacks per client under the target.\n",
		o.settle/2, o.settle, o.services*o.endpoints, o.clients, o.clients)
	fmt.Fprintf(w, "  - RSS (of it file-backed: etcd's mmapped bbolt file, the binary) / Go heap / goroutine stacks: empty %s / %s / %s; loaded %s / %s / %s; with the rollout service %s / %s / %s; %d clients %s / %s / %s (open sotw streams on /metrics: %.0f).\n",
		rssText(r.empty), mib(r.empty.heap), mib(r.empty.stacks),
		rssText(r.loaded), mib(r.loaded.heap), mib(r.loaded.stacks),
		rssText(r.base), mib(r.base.heap), mib(r.base.stacks),
		o.clients, rssText(r.conns), mib(r.conns.heap), mib(r.conns.stacks), r.conns.streams)
	fmt.Fprintf(w, "- (c) Endpoint i of the %d-endpoint rollout service gets a new address, for i = 1..%d, one Update after another as fast as they return (what a rollout's slice writes look like). %d pushes per client would be no coalescing; the feed coalesces over 20 ms, and a SotW client gets nothing new until it has ACKed.\n",
		pods, pods, pods)
	for _, ro := range r.rollouts {
		fmt.Fprintf(w, "  - %d clients: the %d writes took %s (%.0f writes/s); every client had the final state %s after the first write; EDS responses per client: first client %d, fewest %d, most %d, mean %.1f; `shoal_xds_responses_total{type=\"eds\"}` rose by %.0f; server CPU %s.\n",
			ro.clients, ro.pods, msec(ro.writeTime), float64(ro.pods)/ro.writeTime.Seconds(), msec(ro.doneTime),
			ro.one, ro.lo, ro.hi, ro.mean, ro.serverDelta, msec(ro.serverCPU))
	}

	fmt.Fprintf(w, "\nPublished anchors, for context only — NOT measured here (other hardware, other workloads):\n\n")
	fmt.Fprintf(w, "| system | published figure |\n|---|---|\n")
	fmt.Fprintf(w, "| Istio (istiod) | about one istiod vCPU per ~1000 services and 2000 sidecars |\n")
	fmt.Fprintf(w, "| Consul | updates to 172,000 service instances on 10,000 nodes in under 1 s, with 5 servers |\n")
}

func pct(ds []time.Duration, q float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[min(len(s)-1, int(q*float64(len(s))))]
}

func msec(d time.Duration) string {
	return fmt.Sprintf("%.1f ms", float64(d)/float64(time.Millisecond))
}

func kb(b float64) string { return fmt.Sprintf("%.1f KB", b/1000) }

func mib(b float64) string { return fmt.Sprintf("%.1f MiB", b/(1<<20)) }

func rssText(m memory) string {
	return fmt.Sprintf("%s (%s)", mib(float64(m.rss)), mib(float64(m.file)))
}

func yes(ok bool) string {
	if ok {
		return "yes"
	}
	return "no"
}
