// Package load turns load reports into endpoint weights: the cluster-wide
// half of Shoal's least-loaded balancing (the per-request half is the
// proxies' own least-request picks, which follow these weights).
//
// A [Table] collects what reporters saw: LRS streams add per-endpoint
// request counts and in-flight requests ([Table.Add]), node agents add
// per-pod CPU ([Table.SetCPU]). [Table.Snapshot] sums them per endpoint IP.
//
// A [Weigher] turns one snapshot per period (about a second) into weights,
// comparable within a group of endpoints (a Service). It is a damped,
// bounded feedback loop; pure (no goroutines, no clock) and it allocates
// only when the weights change. [Loop] joins the two for xds/feed:
//
//	table := load.NewTable() // fed by xds/lrs and node agents
//	loop := load.Loop{Table: table, Weigher: load.NewWeigher(load.Options{})}
//	weights, changed := loop.Weights(now, groups) // once a second
//
// # The weighting
//
// For each endpoint i with weight w_i in effect, and each period:
//
//	x_i  = EWMA_β(inflight_i / w_i + p / N)         load per unit of weight
//	l_i  = EWMA_βl(latency_i)                       mean response time
//	e_i  = EWMA_β(errRate_i · rps_i/(rps_i + 1))   error fraction, discounted on few requests
//	c_i  = EWMA_β(cpu_i / w_i + p_cpu / N)          CPU per unit of weight
//
//	L_i  = x_i·w_i + k·e_i·mean(x·w)                in-flight with the error penalty
//	T_i  = l_i^γ·w_i + k·e_i·mean(l^γ·w)            latency, read the same way
//	r_i  = max((1−s)·L_i/mean(L) + s·c_i·w_i/mean(c·w), T_i/mean(T))
//	                                                load relative to the group
//	t_i  = clamp(N · (w_i/r_i) / mean(w/r), Min, Max)
//
// and, when some |t_i/w_i − 1| in the group exceeds the deadband D, every
// endpoint of the group moves to
//
//	w_i ← round(clamp(w_i · clamp((t_i/w_i)^α, 1/M, M), Min, Max))
//
// and at least one unit toward t_i, so small weights do not stall on
// rounding. That is w ← w·(mean/load)^α, renormalised so that the group's
// weights average N. An endpoint's first move, when its target is more than
// M away (a new endpoint already measured far off), goes to the target at
// once, by up to a factor F; and a group whose weights moved in the last
// period does not turn back in this one, since clients report once a
// period and that period's load was partly measured under the old weights
// (turning on it is how a lagging loop swings); it may go on the way it
// went. Parameters ([Options]): α = 0.5, β = 0.3, βl = 0.1, D = 0.1, M = 2, F = 16, γ = 2, k = 4,
// s = 0.5 when every reporting endpoint of the group has a CPU figure (0
// otherwise; 1 when no endpoint of the group has in-flight reports), p = 0.5
// requests, p_cpu = 0.05 cores, a latency prior of P = 10 ms over q = 1
// request/s; N = [Neutral] = 100, [MinWeight] = 5, [MaxWeight] = 400.
// latency_i is what reporters that time requests report (api.LRSLatencyMetric:
// Shoal's proxy), else Little's law, (inflight_i + P·q) / (rps_i + q), at
// 10 requests/s or more (in-flight requests are counted at the instant of
// a report: a pod with a request now and then is caught with none); the
// counts of thinner periods are added up until they reach that rate (at
// most 10 periods) and the figure counts in the average as that many
// periods, so a pod held at MinWeight is still measured and its recovery
// seen. An
// endpoint keeps its last latency through periods without one; T is used
// only when every reporting endpoint of the group has one.
//
// Averaging load per unit of weight rather than load is what keeps the loop
// from oscillating: when in-flight requests are proportional to traffic
// share, x_i does not move when w_i does, so the averages carry no stale
// picture of the old weights, the targets t_i stay put, and the weights
// approach them monotonically. The deadband then holds them still once every
// target is within 10%, so EDS stays quiet under steady load.
//
// The latency floor in r_i: with γ = 1, l_i·w_i would be the in-flight
// load the endpoint carries if traffic followed the weights, T_i ≈ L_i,
// and the weights would settle at 1/latency: a pod 10× slower gets 1/21
// of the calls of three but holds as many requests in flight as each fast
// one, so callers spend a third of their time waiting on it (proxyless
// gRPC clients measured ~6% of calls on it). With γ = 2 the floor settles
// at 1/latency², which puts such a pod at MinWeight (≤ 2% of the calls):
// least-loaded then means least expected wait, as in the picks of Shoal's
// node proxy, rather than equal requests in flight. Among endpoints of like
// latency it changes nothing, and the in-flight term still moves traffic
// off a pod that other clients keep busy. Shoal's node proxy does not
// follow the weights: it weighs each pick by response time and keeps a
// slow pod nearly idle, so the slow pod's in-flight requests and CPU per
// weight read as spare capacity, which would raise its weight for every
// other client; its latency still shows it slow.
//
// Where latency climbs steeply with load (pods near saturation), a loop
// of this kind can still swing: the simulation tests find at most one
// change of direction for a 10× slower pod, two pods of 10 and 15 ms, and
// a pod of half the capacity, with clients one or two periods behind; an
// overloaded group (30 callers on the first case) keeps moving.
//
// With k = 4, an endpoint failing more than about 30% of its requests is
// driven to MinWeight however idle it looks; one failing 1% keeps its
// weight within the deadband.
//
// An IP in several groups (a pod behind several Services) gets the lowest
// weight any of its groups proposes.
//
// An endpoint with no current report, a new endpoint (whose load was
// measured before it had a weight) and every endpoint of a group where
// nothing is reported are aimed at [Neutral].
package load
