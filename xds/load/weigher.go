package load

import (
	"maps"
	"math"
	"time"
)

// Weight bounds. Neutral is the weight of an endpoint Shoal knows nothing
// about, and the mean weight of the endpoints of a Service that report load.
// MinWeight keeps an overloaded or failing pod in rotation, so its recovery
// is seen; MaxWeight stops an idle pod attracting a stampede.
const (
	Neutral   = 100
	MinWeight = 5
	MaxWeight = 400
)

// Options tune a Weigher. The zero value of a field means its default.
type Options struct {
	// Damping (α, default 0.5) is the fraction, in log space, of the way
	// from the published weight to the target that one published step goes.
	Damping float64
	// Smoothing (default 0.3) is the weight of a new observation in the
	// exponentially weighted moving averages of each endpoint's load.
	Smoothing float64
	// Deadband (default 0.1): a Service's weights are republished only when
	// some endpoint's target differs from its published weight by more than
	// this fraction.
	Deadband float64
	// MaxStep (default 2) bounds the factor by which one update may move a
	// weight.
	MaxStep float64
	// ErrorPenalty (default 4): an endpoint failing a fraction e of its
	// requests counts ErrorPenalty·e times its Service's mean in-flight
	// requests as extra load, so a pod that fails fast (and so has few
	// requests in flight) does not attract traffic.
	ErrorPenalty float64
	// CPUShare (default 0.5) is the part CPU plays in an endpoint's load
	// when the CPU of every reporting endpoint of the Service is known; the
	// rest is in-flight requests.
	CPUShare float64
	// InFlightPrior (default 0.5 requests) is added to every endpoint's
	// in-flight count so that, at low concurrency, single requests caught in
	// flight by a report do not swing weights.
	InFlightPrior float64
	// CPUPrior (default 0.05 cores) does the same for CPU.
	CPUPrior float64
	// PriorLatency (default 10 ms) and PriorRate (default 1 request/s) are
	// a prior on each endpoint's latency where it is estimated by Little's
	// law, (inflight + PriorLatency·PriorRate) / (rps + PriorRate), for the
	// same reason; LittleMinRate (default 10 requests/s) is the least rate
	// the estimate is made at (reporters that time requests report the
	// latency itself).
	PriorLatency  time.Duration
	PriorRate     float64
	LittleMinRate float64
	// LatencySmoothing (default 0.1) is Smoothing for latency, which is
	// smoothed more: from proxyless gRPC clients it is Little's law over
	// one in-flight count per report, a noisy figure for a pod with few
	// requests, and the latency floor reads it squared (LatencyExponent).
	// An endpoint's first figure is taken as it is, so the first step is
	// not delayed.
	LatencySmoothing float64
	// LatencyExponent (γ, default 2) is how steeply the latency floor
	// weighs an endpoint's latency: at the floor the weights go as
	// 1/latency^γ. With 1 an endpoint 10× slower keeps 1/10 of the weight
	// and a third of the requests in flight (as many as each fast one);
	// with 2, 1/100 (the MinWeight floor), so callers do not spend a third
	// of their time waiting on it.
	LatencyExponent float64
	// FirstStep (default 16) bounds the factor of an endpoint's first
	// weight change when its target is further than MaxStep away: a new
	// endpoint already measured far off goes most of the way at once
	// instead of halving its weight once a period.
	FirstStep float64
}

func (o Options) withDefaults() Options {
	def := func(v *float64, d float64) {
		if !(*v > 0) || math.IsInf(*v, 0) {
			*v = d
		}
	}
	def(&o.Damping, 0.5)
	def(&o.Smoothing, 0.3)
	def(&o.Deadband, 0.1)
	def(&o.MaxStep, 2)
	def(&o.ErrorPenalty, 4)
	def(&o.CPUShare, 0.5)
	def(&o.InFlightPrior, 0.5)
	def(&o.CPUPrior, 0.05)
	if o.PriorLatency <= 0 {
		o.PriorLatency = 10 * time.Millisecond
	}
	def(&o.PriorRate, 1)
	def(&o.LittleMinRate, 10)
	def(&o.LatencyExponent, 2)
	def(&o.LatencySmoothing, 0.1)
	def(&o.FirstStep, 16)
	o.Damping = min(o.Damping, 1)
	o.Smoothing = min(o.Smoothing, 1)
	o.CPUShare = min(o.CPUShare, 1)
	o.MaxStep = max(o.MaxStep, 1.01)
	o.FirstStep = max(o.FirstStep, o.MaxStep)
	return o
}

// Weigher turns load snapshots into endpoint weights, once per period. It
// keeps per-endpoint state between calls and is not safe for concurrent use.
type Weigher struct {
	o   Options
	eps map[string]*endpoint
	// pub is the map last returned; it is never modified, only replaced.
	pub  map[string]uint32
	gen  uint64 // Update calls
	mark uint64 // groups visited, to skip an IP listed twice in one group
	// Scratch space reused by every group.
	members []*endpoint
	targets []float64
}

type endpoint struct {
	w       uint32 // the published weight, in effect while the latest load was measured
	moved   bool   // w has changed since the endpoint appeared
	movedAt uint64 // the Update that last changed w
	rose    bool   // and whether it went up
	fresh   bool   // first seen in this period: no weight was in effect yet
	gen     uint64 // last Update that saw the IP in a group
	mark    uint64
	next    uint32 // the lowest weight proposed by its groups this period

	// Smoothed load per unit of weight, with their priors, and the
	// smoothed error fraction. Dividing by the weight in effect makes the
	// averages independent of weight changes (in-flight requests are
	// proportional to traffic share), so smoothing adds no lag to the loop.
	inflight, cpu, errs float64
	// latency is the smoothed latency (in-flight requests per request per
	// second, Little's law), which does not depend on the traffic share at
	// all: it also holds when clients do not follow the weights. Shoal's
	// proxy weighs each pick by response time and keeps a slow pod nearly
	// idle, which in-flight requests per weight alone read as spare
	// capacity.
	latency float64
	// little adds up the periods too thin for a Little's-law latency.
	little littleSum
	// Whether the endpoint has a current observation (and so seeded
	// averages) of in-flight requests and of CPU, and has had one of
	// latency.
	hasInflight, hasLatency, hasCPU bool
}

// littleSum is in-flight counts and request rates of consecutive periods.
type littleSum struct {
	inflight, rps float64
	n             int
}

// littleWindow is the most periods whose counts are added up for one
// Little's-law latency.
const littleWindow = 10

// NewWeigher returns a Weigher with no history.
func NewWeigher(o Options) *Weigher {
	return &Weigher{o: o.withDefaults(), eps: map[string]*endpoint{}, pub: map[string]uint32{}}
}

// Update folds one period's load snapshot into the weights of the endpoints
// named in groups (a group is a Service; its value lists its endpoint IPs)
// and returns a weight for every IP in any group. Weights compare only
// within a group. An IP in several groups gets the lowest weight any of its
// groups gives it: its load is the pod's total, and the conservative choice
// does not pull traffic from one Service onto a pod that is busy with
// another.
//
// changed reports whether the weights differ from those last returned; when
// it is false the previous map is returned again. The returned map must not
// be modified; later calls do not modify it either.
func (w *Weigher) Update(snap map[string]Load, groups map[string][]string) (weights map[string]uint32, changed bool) {
	w.gen++
	for _, ips := range groups {
		for _, ip := range ips {
			w.observe(ip, snap)
		}
	}
	for _, ips := range groups {
		w.group(ips)
	}
	for ip, ep := range w.eps {
		if ep.gen != w.gen {
			delete(w.eps, ip)
			changed = true
			continue
		}
		if ep.fresh {
			ep.fresh = false
			changed = true
			continue
		}
		if ep.next != ep.w {
			ep.rose = ep.next > ep.w
			ep.w, ep.moved, ep.movedAt = ep.next, true, w.gen
			changed = true
		}
	}
	if !changed {
		return w.pub, false
	}
	pub := make(map[string]uint32, len(w.eps))
	for ip, ep := range w.eps {
		pub[ip] = ep.w
	}
	if maps.Equal(pub, w.pub) {
		return w.pub, false
	}
	w.pub = pub
	return pub, true
}

// observe updates ip's averages from snap, once per period however many
// groups list it.
func (w *Weigher) observe(ip string, snap map[string]Load) {
	ep := w.eps[ip]
	if ep == nil {
		ep = &endpoint{w: Neutral, fresh: true}
		w.eps[ip] = ep
	}
	if ep.gen == w.gen {
		return
	}
	ep.gen = w.gen
	ep.next = math.MaxUint32
	if ep.fresh {
		// The load was measured before this endpoint had a weight.
		return
	}
	l, ok := snap[ip]
	o := &w.o
	weight := float64(ep.w)
	if inflight := l.InFlight; ok && l.Reporters > 0 && usable(inflight) {
		// The prior is per neutral weight, not per this endpoint's weight:
		// divided by a small weight it would make an idle, down-weighted
		// endpoint look busy and slow its recovery.
		x := inflight/weight + o.InFlightPrior/Neutral
		e := 0.0
		if rps := l.RPS; usable(rps) && usable(l.ErrorRate) {
			// Discount error rates seen on few requests.
			e = min(l.ErrorRate, 1) * rps / (rps + 1)
		}
		if ep.hasInflight {
			ep.inflight += o.Smoothing * (x - ep.inflight)
			ep.errs += o.Smoothing * (e - ep.errs)
		} else {
			ep.inflight, ep.errs, ep.hasInflight = x, e, true
		}
	} else if ep.hasLatency {
		// Reporters leave out an endpoint that had no request in the
		// interval (as Envoy does): one already measured is idle, not
		// unknown. (A pod kept idle because it is slow would otherwise be
		// aimed at Neutral whenever a period passes without a probe.)
		ep.inflight += o.Smoothing * (o.InFlightPrior/Neutral - ep.inflight)
		ep.errs -= o.Smoothing * ep.errs
		ep.hasInflight = true
	} else {
		ep.hasInflight = false
	}
	// An endpoint that got no request in the period has no new latency to
	// tell; it keeps the last (a pod kept nearly idle because it is slow
	// gets a request only now and then, and is no faster in between).
	// Reporters that time requests (Shoal's proxy) give it; otherwise it is
	// Little's law, which needs some requests: in-flight requests are
	// counted at the instant of the report, and a pod with a request now
	// and then is caught with none. So the counts of periods with fewer
	// requests are added up until they make LittleMinRate requests (at
	// most littleWindow periods), and the estimate is made over them: a pod
	// at the bottom weight is still measured, so one whose latency the
	// load of other clients had raised is seen to recover.
	lat, measured, periods := 0.0, false, 1
	switch {
	case !ep.hasInflight:
		ep.little = littleSum{}
	case l.Latency > 0 && usable(l.Latency):
		lat, measured = l.Latency, true
		ep.little = littleSum{}
	case usable(l.RPS) && usable(l.InFlight):
		ep.little.inflight += l.InFlight
		ep.little.rps += l.RPS
		ep.little.n++
		if ep.little.rps >= o.LittleMinRate {
			n := float64(ep.little.n)
			periods = ep.little.n
			lat, measured = (ep.little.inflight/n+o.PriorLatency.Seconds()*o.PriorRate)/(ep.little.rps/n+o.PriorRate), true
			ep.little = littleSum{}
		} else if ep.little.n >= littleWindow {
			ep.little = littleSum{}
		}
	}
	if measured {
		if ep.hasLatency {
			// A figure summed over several periods counts as that many.
			ep.latency += (1 - math.Pow(1-o.LatencySmoothing, float64(periods))) * (lat - ep.latency)
		} else {
			ep.latency, ep.hasLatency = lat, true
		}
	}
	if ok && usable(l.CPU) {
		c := l.CPU/weight + o.CPUPrior/Neutral
		if ep.hasCPU {
			ep.cpu += o.Smoothing * (c - ep.cpu)
		} else {
			ep.cpu, ep.hasCPU = c, true
		}
	} else {
		ep.hasCPU = false
	}
}

// usable reports whether v is a finite, non-negative load figure.
func usable(v float64) bool { return v >= 0 && v < 1e15 }

// group proposes weights for one group's endpoints: targets that equalise
// their load, approached in damped steps, or their current weights when
// every target is within the deadband.
func (w *Weigher) group(ips []string) {
	w.mark++
	members := w.members[:0]
	useInflight := false
	for _, ip := range ips {
		ep := w.eps[ip]
		if ep.mark == w.mark {
			continue
		}
		ep.mark = w.mark
		members = append(members, ep)
		useInflight = useInflight || ep.hasInflight
	}
	w.members = members
	if cap(w.targets) < len(members) {
		w.targets = make([]float64, len(members), cap(members))
	}
	targets := w.targets[:len(members)]

	// The endpoints that report what this group is balanced on.
	reports := func(ep *endpoint) bool {
		if useInflight {
			return ep.hasInflight
		}
		return ep.hasCPU
	}
	o := &w.o
	var n, sumX, sumC, sumT float64
	allCPU, allLatency := true, useInflight
	for _, ep := range members {
		if !reports(ep) {
			continue
		}
		n++
		sumX += ep.inflight * float64(ep.w)
		sumC += ep.cpu * float64(ep.w)
		sumT += w.latencyTerm(ep) * float64(ep.w)
		allCPU = allCPU && ep.hasCPU
		allLatency = allLatency && ep.hasLatency
	}
	cpuShare := 0.0
	switch {
	case !useInflight:
		cpuShare = 1
	case allCPU:
		cpuShare = o.CPUShare
	}

	if n > 0 {
		meanX, meanC := sumX/n, sumC/n
		// Effective in-flight load with the error penalty, and its mean.
		var sumL float64
		for i, ep := range members {
			if reports(ep) {
				targets[i] = ep.inflight*float64(ep.w) + o.ErrorPenalty*ep.errs*meanX
				sumL += targets[i]
			}
		}
		meanL := sumL / n
		// The same for latency (as the in-flight load it would make if
		// traffic followed the weights), with the same error penalty: a pod
		// that fails fast is not light.
		var sumLT float64
		if allLatency {
			meanT := sumT / n
			for _, ep := range members {
				if reports(ep) {
					sumLT += w.latencyTerm(ep)*float64(ep.w) + o.ErrorPenalty*ep.errs*meanT
				}
			}
		}
		// raw = w / (load relative to the group mean): the weight that,
		// with in-flight requests proportional to weight, brings the
		// endpoint to the mean.
		var sumRaw float64
		for i, ep := range members {
			if !reports(ep) {
				continue
			}
			var rel float64
			if cpuShare < 1 {
				rel = (1 - cpuShare) * targets[i] / meanL
			}
			if cpuShare > 0 {
				rel += cpuShare * ep.cpu * float64(ep.w) / meanC
			}
			if allLatency && sumLT > 0 {
				// An endpoint is at least as loaded as its latency says,
				// read, like the rest, as the load it would carry if
				// traffic followed the weights. With clients that follow
				// them this adds nothing (a slow pod then has requests in
				// flight in proportion); with clients that keep a slow pod
				// idle, its in-flight requests and CPU read as spare
				// capacity and only its latency shows it slow.
				rel = max(rel, (w.latencyTerm(ep)*float64(ep.w)+o.ErrorPenalty*ep.errs*sumT/n)*n/sumLT)
			}
			targets[i] = float64(ep.w) / rel
			sumRaw += targets[i]
		}
		scale := Neutral * n / sumRaw
		for i, ep := range members {
			if reports(ep) {
				targets[i] = min(max(targets[i]*scale, MinWeight), MaxWeight)
			}
		}
	}
	gap := 0.0
	for i, ep := range members {
		if !reports(ep) {
			targets[i] = Neutral
		}
		gap = max(gap, math.Abs(targets[i]/float64(ep.w)-1))
	}
	// A group whose weights moved in the previous period does not turn
	// back in this one: clients report once a period, so the load it saw
	// was partly measured under the old weights, and turning on it is how
	// a lagging loop swings. It may go on the way it went.
	hold := false
	for i, ep := range members {
		if ep.moved && ep.movedAt+1 == w.gen && (targets[i] > float64(ep.w)) != ep.rose {
			hold = true
		}
	}
	for i, ep := range members {
		p := ep.w
		if gap > o.Deadband && !hold {
			p = step(ep.w, targets[i], !ep.moved, o)
		}
		ep.next = min(ep.next, p)
	}
}

// latencyTerm is an endpoint's latency as the latency floor reads it:
// latency^LatencyExponent.
func (w *Weigher) latencyTerm(ep *endpoint) float64 {
	if w.o.LatencyExponent == 2 {
		return ep.latency * ep.latency
	}
	return math.Pow(ep.latency, w.o.LatencyExponent)
}

// step moves weight w toward target by the damping fraction (in log space),
// at most by a factor of MaxStep and at least by one unit, within bounds.
// An endpoint's first move (first), when the target is further than
// MaxStep, goes to the target at once, up to a factor of FirstStep.
func step(w uint32, target float64, first bool, o *Options) uint32 {
	cur := float64(w)
	r := target / cur
	var f float64
	if first && (r > o.MaxStep || r < 1/o.MaxStep) {
		f = min(max(r, 1/o.FirstStep), o.FirstStep)
	} else {
		f = min(max(math.Pow(r, o.Damping), 1/o.MaxStep), o.MaxStep)
	}
	next := uint32(math.Round(min(max(cur*f, MinWeight), MaxWeight)))
	switch {
	case next == w && target > cur+0.5 && w < MaxWeight:
		next++
	case next == w && target < cur-0.5 && w > MinWeight:
		next--
	}
	return next
}
