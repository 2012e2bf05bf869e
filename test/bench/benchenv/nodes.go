package benchenv

import (
	"context"
	"fmt"
	"math/bits"
	"sync"
	"testing"

	"github.com/shoalmesh/shoal/controlplane/registry"
	"github.com/shoalmesh/shoal/controlplane/scheduler/schedulertest"
)

// SimNodes are nodes simulated by package schedulertest, as the scheduler's
// tests simulate them: a Node object (Ready, with capacity) and the Lease
// its agent would renew, with a load report if the options give one, all
// written through the registry; no processes. Close stops their renewals.
type SimNodes struct {
	Nodes []*schedulertest.Node
	tb    *simTB
}

// StartSimNodes registers n simulated nodes, parallel at a time; opts gives
// node i its name and options. Their renewals run until Close (or ctx ends).
// On an error the nodes started so far are stopped.
func StartSimNodes(ctx context.Context, reg *registry.Registry, n, parallel int, opts func(i int) (string, schedulertest.Options)) (*SimNodes, error) {
	tctx, cancel := context.WithCancel(ctx)
	s := &SimNodes{Nodes: make([]*schedulertest.Node, n), tb: &simTB{ctx: tctx, cancel: cancel}}
	err := ForEach(n, parallel, func(i int) (err error) {
		name, o := opts(i)
		defer func() {
			if r := recover(); r != nil {
				f, ok := r.(simFatal)
				if !ok {
					panic(r)
				}
				err = fmt.Errorf("simulated node %s: %s", name, string(f))
			}
		}()
		s.Nodes[i] = schedulertest.Start(s.tb, reg, name, o)
		return nil
	})
	if err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// Close stops every node's agent (renewals, pod updates) and waits for them.
func (s *SimNodes) Close() { s.tb.close() }

// simTB is the little of testing.TB that schedulertest.Start uses (Context,
// Cleanup, Helper, Fatal), for a program that has no test. Its Fatal panics
// with a simFatal, which StartSimNodes turns into an error. A method it does
// not implement panics on the nil embedded TB: a clear failure, not a silent
// one.
type simTB struct {
	testing.TB
	ctx    context.Context
	cancel context.CancelFunc

	mu       sync.Mutex
	cleanups []func()
}

type simFatal string

func (t *simTB) Context() context.Context { return t.ctx }
func (t *simTB) Helper()                  {}
func (t *simTB) Fatal(args ...any)        { panic(simFatal(fmt.Sprint(args...))) }
func (t *simTB) Fatalf(f string, a ...any) {
	panic(simFatal(fmt.Sprintf(f, a...)))
}
func (t *simTB) Logf(string, ...any) {}
func (t *simTB) Log(...any)          {}

func (t *simTB) Cleanup(f func()) {
	t.mu.Lock()
	t.cleanups = append(t.cleanups, f)
	t.mu.Unlock()
}

// close cancels the context first and then runs the cleanups, last first, as
// the testing package does at the end of a test.
func (t *simTB) close() {
	t.cancel()
	t.mu.Lock()
	fs := t.cleanups
	t.cleanups = nil
	t.mu.Unlock()
	for i := len(fs) - 1; i >= 0; i-- {
		fs[i]()
	}
}

// WidenPodCIDRs gives the registry a cluster pod CIDR with room for nodes
// /24s, in place of DESIGN.md's 10.244.0.0/16, which holds only 256: a
// benchmark of more nodes than that needs it. It must be called before the
// nodes are created.
func (e *Env) WidenPodCIDRs(nodes int) error {
	if nodes <= 256 {
		return nil
	}
	// 10.0.0.0/(24-k) holds 2^k /24s; k ≤ 12 keeps it within 10.0.0.0/12,
	// clear of the service range 10.96.0.0/16.
	k := bits.Len(uint(nodes - 1))
	if k > 12 {
		return fmt.Errorf("%d nodes: at most 4096 get a pod CIDR here", nodes)
	}
	a, err := registry.NewCIDRAllocator(e.Client, fmt.Sprintf("10.0.0.0/%d", 24-k), 24)
	if err != nil {
		return err
	}
	e.Registry.PodCIDRs = a
	return nil
}
