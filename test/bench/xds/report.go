package main

import (
	"fmt"
	"io"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/shoalmesh/shoal/test/bench/benchenv"
)

// Targets from the xDS issues.
const (
	targetP99       = 100 * time.Millisecond
	targetPerClient = 30_000 // bytes of RSS
)

func report(w io.Writer, r *results) {
	if r.o.fanout {
		reportFanout(w, r)
	}
	if r.o.convRounds > 0 {
		reportConvergence(w, r)
	}
	fmt.Fprintf(w, "\nPublished anchors, for context only — NOT measured here (other hardware, other workloads):\n\n")
	fmt.Fprintf(w, "| system | published figure |\n|---|---|\n")
	fmt.Fprintf(w, "| Istio (istiod) | about one istiod vCPU per ~1000 services and 2000 sidecars |\n")
	fmt.Fprintf(w, "| Consul | updates to 172,000 service instances on 10,000 nodes in under 1 s, with 5 servers |\n")
}

func reportFanout(w io.Writer, r *results) {
	o := r.o
	fmt.Fprintf(w, "\n### 1 endpoint of the hot service changed (API write) → the last of %d clients has the new assignment\n\n", o.clients)
	fmt.Fprintf(w, "%d rounds of %d changes per server and protocol, interleaved; p50 and server cost are the median of the rounds' (range over rounds), p99 is over all %d changes.\n\n", o.rounds, o.changes, o.rounds*o.changes)
	fmt.Fprintf(w, "| server | protocol | p50 | p99 | slowest per round | server CPU per change | syscalls per change (read + write) | KB written per change | wrong answers | p99 < 100 ms? |\n")
	fmt.Fprintf(w, "|---|---|--:|--:|--:|--:|--:|--:|--:|---|\n")
	for _, t := range r.targets {
		for p := range numProtocols {
			rds := t.rounds[p]
			var all []time.Duration
			var p50, slowest, cpu, reads, writes, written []float64
			var wrong, checked int64
			missed := 0
			for _, rd := range rds {
				all = append(all, rd.fromWrite...)
				k := float64(len(rd.fromWrite))
				p50 = append(p50, ms(pct(rd.fromWrite, 0.5)))
				slowest = append(slowest, ms(pct(rd.fromWrite, 1)))
				cpu = append(cpu, ms(rd.serverCPU)/k)
				reads = append(reads, float64(rd.io.reads)/k)
				writes = append(writes, float64(rd.io.writes)/k)
				written = append(written, float64(rd.io.written)/k/1000)
				wrong += rd.wrong
				checked += rd.checked
				missed += rd.missed
			}
			p99 := pct(all, 0.99)
			fmt.Fprintf(w, "| %s | %s | %s | %.1f ms | %s | %s | %s + %s | %s | %d of %d | %s |\n",
				t.name, p, spread(p50, "%.1f ms"), ms(p99), spread(slowest, "%.0f ms"), spread(cpu, "%.1f ms"),
				spread(reads, "%.0f"), spread(writes, "%.0f"), spread(written, "%.0f"), wrong, checked,
				yes(p99 < targetP99 && missed == 0 && wrong == 0))
		}
	}

	fmt.Fprintf(w, "\n### Server memory per connected client (%d per protocol)\n\n", o.clients)
	fmt.Fprintf(w, "| server | protocol | RSS per client | Go heap + goroutine stacks per client | < 30 KB RSS? |\n|---|---|--:|--:|---|\n")
	n := float64(o.clients)
	for _, t := range r.targets {
		prev := t.base
		for p := range numProtocols {
			cur := t.conns[p]
			rss := float64(cur.rss-prev.rss) / n
			heap, stacks := (cur.heap-prev.heap)/n, (cur.stacks-prev.stacks)/n
			// RSS can undercount: new clients reuse memory the runtime kept
			// from earlier peaks. Met only if heap + stacks is under too.
			fmt.Fprintf(w, "| %s | %s | %s | %s (%s + %s) | %s |\n", t.name, p, kb(rss), kb(heap+stacks), kb(heap), kb(stacks),
				yes(rss < targetPerClient && heap+stacks < targetPerClient))
			prev = cur
		}
	}

	fmt.Fprintf(w, "\n### Other measures\n\n| server | measure | value |\n|---|---|--:|\n")
	nEndpoints := float64(o.services * o.endpoints)
	for _, t := range r.targets {
		fmt.Fprintf(w, "| %s | memory per endpoint (%d services × %d; the whole `shoal up` process: etcd, API server, caches, DNS, xDS) | %s RSS (Go heap %s) |\n",
			t.name, o.services, o.endpoints, kb(float64(t.loaded.rss-t.empty.rss)/nEndpoints), kb((t.loaded.heap-t.empty.heap)/nEndpoints))
		for _, ro := range t.rollouts {
			fmt.Fprintf(w, "| %s | EDS pushes per client during a %d-pod rollout (%d slice writes, %.0f writes/s) | %d (one client); %.1f (server metric ÷ %d) |\n",
				t.name, ro.pods, ro.pods, float64(ro.pods)/ro.writeTime.Seconds(), ro.one, ro.serverDelta/float64(ro.clients), ro.clients)
		}
	}

	fmt.Fprintf(w, "\nHow it was measured (KB = 1000 bytes, MiB = 2^20 bytes):\n\n")
	fmt.Fprintf(w, "- Machine: %d CPUs, %s; 1-minute load average %s at the start, %s at the end (the machine is shared with other work); per round: %s.\n",
		runtime.NumCPU(), r.cpus, r.load0, r.load1, roundLoads(r))
	fmt.Fprintf(w, "- Servers: `shoal up` (embedded etcd, API server, controllers, DNS and xDS in one process) as child processes%s. Clients: raw ADS streams (envoy's generated AggregatedDiscoveryServiceClient), one gRPC connection and node id each (user_agent_name alternating \"envoy\" and \"gRPC Go\"; the \"envoy\" ones keep fixed HTTP/2 flow-control windows, as Envoy does, so they send no BDP pings), all in this process. Per server, %d state-of-the-world clients watch EDS for svc-0000, the rollout service and %d random others; %d delta clients watch svc-0001 and %d random others. Every client ACKs every response.\n",
		baselineNote(r), o.clients, o.random, o.clients, o.random)
	for _, t := range r.targets {
		fmt.Fprintf(w, "- %s: %d services × %d endpoints (selector-less Services + hand-written EndpointSlices labelled managed-by %s, created through the API by %d client-go writers) in %.1f s; every ClusterLoadAssignment complete at an xDS probe client %.1f s after the first write. Clients connected and answered in %.1f s (state of the world) and %.1f s (delta).\n",
			t.name, o.services, o.endpoints, managedBy, o.parallel, t.loadTime.Seconds(), t.xdsTime.Seconds(), t.connectTime[sotw].Seconds(), t.connectTime[delta].Seconds())
	}
	fmt.Fprintf(w, "- Changes: each is a client-go Update of the fleet's hot EndpointSlice through the API server (HTTPS, then etcd) replacing one endpoint's address with a new one; it is timed from just before the Update call to the moment the last client's Recv returned a response carrying the new address. Every such response is unmarshalled and counted wrong unless it is the right cluster with all %d endpoints healthy, the new address among them and the replaced one gone. The next change waits until every client has it, plus %v–%v. Server CPU (/proc/<pid>/stat) and system calls and bytes written (/proc/<pid>/io) are the whole process's over the round (API write, etcd, translation, fan-out, the pauses) divided by its changes.\n",
		o.endpoints, o.gap, o.gap*3/2)
	for _, t := range r.targets {
		for p := range numProtocols {
			var ret, first, write []time.Duration
			for _, rd := range t.rounds[p] {
				ret = append(ret, rd.fromReturn...)
				first = append(first, rd.first...)
				write = append(write, rd.write...)
			}
			fmt.Fprintf(w, "  - %s, %s: from when the Update returned p50 %s, p99 %s; to the first client p50 %s; the Update call itself (API + etcd commit) p50 %s, p99 %s.\n",
				t.name, p, msec(pct(ret, 0.5)), msec(pct(ret, 0.99)), msec(pct(first, 0.5)), msec(pct(write, 0.5)), msec(pct(write, 0.99)))
		}
	}
	fmt.Fprintf(w, "- Memory: each reading: %v idle; then the server is made to collect garbage (EndpointSlice lists and /metrics scrapes through the API until `go_gc_duration_seconds_count` has risen by 2; it has no GC endpoint) and `go_memstats_heap_alloc_bytes` and `go_memstats_stack_inuse_bytes` are read 1 s after the second GC; then %v idle and VmRSS from /proc/<pid>/status (median of 3 readings 0.5 s apart). Per endpoint = (loaded − empty) / %d; per client = the difference across connecting a fleet, / %d (delta's is measured with the state-of-the-world fleet already connected). RSS includes the headroom Go's collector keeps (GOGC=100: the heap, goroutine stacks included, may grow to twice what is live before a collection).\n",
		o.settle/2, o.settle, o.services*o.endpoints, o.clients)
	for _, t := range r.targets {
		fmt.Fprintf(w, "  - %s: RSS (file-backed) / Go heap / goroutine stacks: empty %s / %s / %s; loaded %s / %s / %s; with the rollout service %s / %s / %s; + state-of-the-world clients %s / %s / %s; + delta clients %s / %s / %s.\n",
			t.name, rssText(t.empty), mib(t.empty.heap), mib(t.empty.stacks),
			rssText(t.loaded), mib(t.loaded.heap), mib(t.loaded.stacks),
			rssText(t.base), mib(t.base.heap), mib(t.base.stacks),
			rssText(t.conns[sotw]), mib(t.conns[sotw].heap), mib(t.conns[sotw].stacks),
			rssText(t.conns[delta]), mib(t.conns[delta].heap), mib(t.conns[delta].stacks))
	}
	fmt.Fprintf(w, "- Rollout: endpoint i of the %d-endpoint rollout service gets a new address, for i = 1..%d, one Update after another as fast as they return; the state-of-the-world clients watch it. %d pushes per client would be no coalescing; the feed coalesces over 20 ms, and a state-of-the-world client gets nothing new until it has ACKed.\n",
		o.rollout, o.rollout, o.rollout)
	for _, t := range r.targets {
		for _, ro := range t.rollouts {
			fmt.Fprintf(w, "  - %s: the writes took %s; every client had the final state %s after the first write; EDS responses per client: fewest %d, most %d, mean %.1f; server CPU %s.\n",
				t.name, msec(ro.writeTime), msec(ro.doneTime), ro.lo, ro.hi, ro.mean, msec(ro.serverCPU))
		}
	}
}

func reportConvergence(w io.Writer, r *results) {
	o := r.o
	fmt.Fprintf(w, "\n### Proxyless grpc-go: share of the slow backend from the first call\n\n")
	fmt.Fprintf(w, "Three backends, one %v per call and the others %v (each %d calls at a time, so the slow one also has a tenth of the capacity), %d callers back to back through grpc-go's xDS client, a fresh Service and backends each run; %d rounds, median (range over rounds).\n\n",
		convSlow, convFast, convWorkers, convCallers, o.convRounds)
	fmt.Fprintf(w, "| server | policy | slow share, first %d s | ≤ 5%% for good from | slow share from %d s | weight pushes from %d s | slow weight / fast, at the end | failed calls | ≤ 5%% by %d s, ≤ 2%% from %d s, still? |\n",
		convEarly, convSteady, convSteady, convEarly, convSteady)
	fmt.Fprintf(w, "|---|---|--:|--:|--:|--:|--:|--:|---|\n")
	type key struct {
		t      *target
		policy string
	}
	var order []key
	byKey := map[key][]convRun{}
	for _, t := range r.targets {
		for _, run := range t.convRuns {
			k := key{t, run.policy}
			if byKey[k] == nil {
				order = append(order, k)
			}
			byKey[k] = append(byKey[k], run)
		}
	}
	for _, k := range order {
		runs := byKey[k]
		var early, steady, settle, pushes, ratio []float64
		errors := 0
		never := 0
		for _, run := range runs {
			early = append(early, 100*run.shareOver(0, convEarly))
			steady = append(steady, 100*run.shareOver(convSteady, o.convSecs))
			if s := run.settle(0.05); s >= 0 {
				settle = append(settle, float64(s))
			} else {
				settle = append(settle, float64(o.convSecs)) // counted as the whole run
				never++
			}
			pushes = append(pushes, float64(run.steadyPushes))
			ratio = append(ratio, run.weights[len(run.weights)-1])
			errors += run.errors
		}
		settleText := spread(settle, "%.0f s")
		if never > 0 {
			settleText += fmt.Sprintf(" (%d of %d runs never)", never, len(runs))
		}
		met := "—"
		if k.policy == "least-loaded" {
			ss, st, sp := benchenv.SpreadOf(settle), benchenv.SpreadOf(steady), benchenv.SpreadOf(pushes)
			met = yes(never == 0 && ss.Median <= convEarly && st.Median <= 2 && sp.Median <= 1)
		}
		fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %s | %s | %d | %s |\n", k.t.name, k.policy, spread(early, "%.1f%%"), settleText,
			spread(steady, "%.1f%%"), spread(pushes, "%.0f"), spread(ratio, "%.3f"), errors, met)
	}
	fmt.Fprintf(w, "\nThe slow backend's share in each second from the first call (median over rounds):\n\n")
	fmt.Fprintf(w, "| server | policy |")
	for s := range o.convSecs {
		fmt.Fprintf(w, " %d |", s+1)
	}
	fmt.Fprintf(w, "\n|---|---|%s\n", strings.Repeat("--:|", o.convSecs))
	for _, k := range order {
		fmt.Fprintf(w, "| %s | %s |", k.t.name, k.policy)
		for s := range o.convSecs {
			var xs []float64
			for _, run := range byKey[k] {
				xs = append(xs, 100*run.share[s])
			}
			fmt.Fprintf(w, " %.1f |", benchenv.SpreadOf(xs).Median)
		}
		fmt.Fprintf(w, "\n")
	}
	fmt.Fprintf(w, "\n- The time until ≤ 5%% is the first second from which every later second's share is at or under 5%% (the seconds count from the first successful call, which waits for xDS). Weight pushes: assignments of the Service the server sent from %d s on (a raw ADS watcher); the weight ratio is the slow endpoint's locality weight over the mean of the fast ones' in the last assignment. Load average per round is in the log.\n", convSteady)
}

func baselineNote(r *results) string {
	if len(r.targets) < 2 {
		return ""
	}
	return fmt.Sprintf(" — this tree's and the %s's, both set up in full, the timed rounds alternating between them (which goes first alternates too)", r.targets[1].name)
}

func roundLoads(r *results) string {
	var b strings.Builder
	for k := range r.o.rounds {
		if k > 0 {
			b.WriteString(", ")
		}
		var loads []string
		for _, t := range r.targets {
			for p := range numProtocols {
				if k < len(t.rounds[p]) {
					loads = append(loads, t.rounds[p][k].load)
				}
			}
		}
		fmt.Fprintf(&b, "%d: %s", k+1, strings.Join(loads, "/"))
	}
	return b.String()
}

// spread prints the median and range of per-round values.
func spread(xs []float64, format string) string {
	s := benchenv.SpreadOf(xs)
	if len(xs) < 2 {
		return fmt.Sprintf(format, s.Median)
	}
	return fmt.Sprintf(format+" (%s–%s)", s.Median, strings.TrimSpace(fmt.Sprintf(strings.TrimSuffix(strings.TrimSuffix(format, " ms"), " KB"), s.Min)), fmt.Sprintf(format, s.Max))
}

func pct(ds []time.Duration, q float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[min(len(s)-1, int(q*float64(len(s))))]
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func msec(d time.Duration) string { return fmt.Sprintf("%.1f ms", ms(d)) }

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
