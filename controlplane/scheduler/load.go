package scheduler

import (
	"sync"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	"k8s.io/apimachinery/pkg/watch"

	"github.com/shoalmesh/shoal/api"
	"github.com/shoalmesh/shoal/controlplane/store"
)

// LoadSource is the measured load of nodes, which scoring weighs with their
// requests.
type LoadSource interface {
	// NodeLoad is the CPU (cores) and memory (bytes) in use on node; ok is
	// false when there is no fresh report.
	NodeLoad(node string) (cpuCores, memBytes float64, ok bool)
}

// DefaultLoadMaxAge is how long a LeaseLoad trusts a report it has not seen
// renewed: five of the agent's two-second intervals.
const DefaultLoadMaxAge = 5 * api.LoadInterval

// LeaseLoad is the LoadSource that reads the reports node agents put on their
// node Leases (kube-node-lease/<node>, annotation shoal.io/load; see package
// api.LoadReport). A report counts as fresh for MaxAge after the Lease last changed,
// as this process saw it: no clocks are compared.
type LeaseLoad struct {
	maxAge time.Duration

	mu      sync.RWMutex
	reports map[string]leaseReport
}

type leaseReport struct {
	cpu, mem float64
	seen     time.Time
}

var _ LoadSource = (*LeaseLoad)(nil)

// NewLeaseLoad returns an empty LeaseLoad; maxAge 0 is DefaultLoadMaxAge.
func NewLeaseLoad(maxAge time.Duration) *LeaseLoad {
	if maxAge <= 0 {
		maxAge = DefaultLoadMaxAge
	}
	return &LeaseLoad{maxAge: maxAge, reports: map[string]leaseReport{}}
}

// Watch keeps l current from a cache of Leases until the returned func is
// called.
func (l *LeaseLoad) Watch(leases *store.Cache) (stop func()) {
	return leases.Subscribe(l.observe)
}

func (l *LeaseLoad) observe(e store.Event) {
	lease, ok := e.Object.(*coordinationv1.Lease)
	if !ok || lease.Namespace != api.NodeLeaseNamespace || e.Type == store.Relisted {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if e.Type == watch.Deleted {
		delete(l.reports, lease.Name)
		return
	}
	r, ok, _ := api.LoadReportOf(lease) // the registry refuses bad reports
	if !ok {
		delete(l.reports, lease.Name)
		return
	}
	l.reports[lease.Name] = leaseReport{cpu: r.CPU, mem: float64(r.Memory), seen: time.Now()}
}

// NodeLoad implements LoadSource.
func (l *LeaseLoad) NodeLoad(node string) (cpuCores, memBytes float64, ok bool) {
	l.mu.RLock()
	r, ok := l.reports[node]
	l.mu.RUnlock()
	if !ok || time.Since(r.seen) > l.maxAge {
		return 0, 0, false
	}
	return r.cpu, r.mem, true
}
