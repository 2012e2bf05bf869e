package scheduler

// Scoring: every feasible node gets a score from 0 to 100 (higher is better),
// the weighted mean of two:
//
//   - requested (kube-scheduler's LeastAllocated): the share of the node's
//     allocatable CPU and memory left once the pods placed there, those this
//     scheduler has bound but not yet seen, and this pod are counted by their
//     requests (100m and 200Mi for a container that asks for nothing);
//   - measured: the same share with the node's measured CPU and memory use
//     (its load report) plus this pod's requests in place of the placed
//     pods' requests. A node without a fresh report scores its requested
//     score here, so it is neither favoured nor penalised for being silent.
//
// Ties go to the node whose CPU is least busy (measured, else requested),
// then to the one with fewest pods, then to the first by name, so the choice
// is deterministic.

// weights of the two scores.
type weights struct {
	requests, load float64
}

// measured is a node's reported load; ok is false when there is no fresh
// report.
type measured struct {
	cpuCores, memBytes float64
	ok                 bool
}

// scored is a feasible node and its score.
type scored struct {
	name  string
	score float64
	// busy is the node's CPU in use as a share of its allocatable, measured
	// if reported, requested otherwise: the first tie-break.
	busy float64
	pods int64
}

func leastAllocated(allocatable, used int64) float64 {
	if allocatable <= 0 || used >= allocatable {
		return 0
	}
	return float64(allocatable-used) * 100 / float64(allocatable)
}

func share(used float64, allocatable int64) float64 {
	if allocatable <= 0 {
		return 1
	}
	return used / float64(allocatable)
}

// scoreNode scores putting a pod (its non-zero requests) on n, which holds u
// and reports m.
func scoreNode(n *nodeInfo, u usage, pod resources, m measured, w weights) scored {
	cpu := u.nonzero.milliCPU + pod.milliCPU
	mem := u.nonzero.memory + pod.memory
	requested := (leastAllocated(n.allocatable.milliCPU, cpu) + leastAllocated(n.allocatable.memory, mem)) / 2
	load, busy := requested, share(float64(u.nonzero.milliCPU), n.allocatable.milliCPU)
	if m.ok {
		mcpu := int64(m.cpuCores*1000) + pod.milliCPU
		mmem := int64(m.memBytes) + pod.memory
		load = (leastAllocated(n.allocatable.milliCPU, mcpu) + leastAllocated(n.allocatable.memory, mmem)) / 2
		busy = share(m.cpuCores*1000, n.allocatable.milliCPU)
	}
	total := requested
	if w.requests+w.load > 0 {
		total = (w.requests*requested + w.load*load) / (w.requests + w.load)
	}
	return scored{name: n.name, score: total, busy: busy, pods: u.pods}
}

const epsilon = 1e-9

// better reports whether a beats b.
func better(a, b scored) bool {
	if d := a.score - b.score; d > epsilon || d < -epsilon {
		return d > 0
	}
	if d := a.busy - b.busy; d > epsilon || d < -epsilon {
		return d < 0
	}
	if a.pods != b.pods {
		return a.pods < b.pods
	}
	return a.name < b.name
}
