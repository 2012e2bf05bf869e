package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/shoalmesh/shoal/test/bench/benchenv"
)

// target is one `shoal up` under test (this tree's, or the baseline's)
// with its loaded objects and its two client fleets.
type target struct {
	name string
	sh   *benchenv.Shoal
	cs   kubernetes.Interface
	// hot is the slice of the service each fleet's changes go to: the
	// state-of-the-world clients watch svc-0000, the delta ones svc-0001,
	// so a change reaches one fleet only.
	hot     [numProtocols]*discoveryv1.EndpointSlice
	rollout *discoveryv1.EndpointSlice
	fleets  [numProtocols]*fleet
	gen     int64 // changes made (a unique new address each)

	loadTime, xdsTime time.Duration
	connectTime       [numProtocols]time.Duration
	// memory: nothing loaded; loaded; with the rollout service; then
	// after each fleet connected (sotw, then delta on top).
	empty, loaded, base memory
	conns               [numProtocols]memory
	rounds              [numProtocols][]round
	rollouts            []rollout
	convRuns            []convRun
}

// buildBaseline builds ./cmd/shoal as it is at a git revision of this
// repository (exported with git archive into dir/src) and returns the
// binary's path.
func buildBaseline(ctx context.Context, dir, rev string) (string, error) {
	root, err := benchenv.ModuleRoot()
	if err != nil {
		return "", err
	}
	src := filepath.Join(dir, "src")
	if err := os.MkdirAll(src, 0o755); err != nil {
		return "", err
	}
	export := exec.CommandContext(ctx, "sh", "-c", `git -C "$1" archive --format=tar "$2" | tar -x -C "$3"`, "sh", root, rev, src)
	if out, err := export.CombinedOutput(); err != nil {
		return "", fmt.Errorf("export %s: %v: %s", rev, err, out)
	}
	bin := filepath.Join(dir, "shoal-baseline")
	build := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/shoal")
	build.Dir = src
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		return "", fmt.Errorf("go build ./cmd/shoal at %s: %w", rev, err)
	}
	return bin, os.RemoveAll(src)
}

// start runs the target's `shoal up` and makes the benchmark's namespace.
func (t *target) start(ctx context.Context, o options, bin, cpus string) error {
	var err error
	t.sh, err = benchenv.StartShoal(ctx, benchenv.ShoalOptions{Parent: o.dataDir, Prefix: "shoal-bench-xds-", Bin: bin, CPUs: cpus})
	if err != nil {
		return err
	}
	logf("%s: shoal up pid %d: API %s, xDS %s", t.name, t.sh.Pid(), t.sh.REST.Host, t.sh.XDSAddr)
	if err := waitServing(ctx, t.sh.XDSAddr, time.Minute); err != nil {
		return err
	}
	if t.cs, err = t.sh.Clientset(); err != nil {
		return err
	}
	return createNamespace(ctx, t.cs)
}

// load loads and connects everything the fan-out phase needs: memory with
// nothing loaded, the services loaded (and seen complete by an xDS probe
// client), memory, the rollout service, memory, then each fleet's clients
// and memory after each.
func (t *target) load(ctx context.Context, o options) error {
	cs := t.cs
	var err error
	logf("%s: memory before loading", t.name)
	if t.empty, err = measure(ctx, t.sh, o.settle); err != nil {
		return err
	}
	logf("%s: loading %d services × %d endpoints through the API", t.name, o.services, o.endpoints)
	start := time.Now()
	slices, err := loadServices(ctx, cs, o.services, o.endpoints, o.parallel)
	if err != nil {
		return err
	}
	t.hot = [numProtocols]*discoveryv1.EndpointSlice{slices[0], slices[1]}
	t.loadTime = time.Since(start)
	want := map[string]int{}
	for i := range o.services {
		want[claName(serviceName(i))] = o.endpoints
	}
	if err := waitEDS(ctx, t.sh.XDSAddr, want, 3*time.Minute); err != nil {
		return fmt.Errorf("waiting for every ClusterLoadAssignment: %w", err)
	}
	t.xdsTime = time.Since(start)
	logf("%s: loaded in %v; every ClusterLoadAssignment complete over xDS %v after the first write", t.name, t.loadTime.Round(time.Millisecond), t.xdsTime.Round(time.Millisecond))
	if t.loaded, err = measure(ctx, t.sh, o.settle); err != nil {
		return err
	}

	ips := make([]string, o.rollout)
	for i := range ips {
		ips[i] = ip4(10, 252, i)
	}
	if t.rollout, err = createService(ctx, cs, rolloutService, ips); err != nil {
		return err
	}
	if err := waitEDS(ctx, t.sh.XDSAddr, map[string]int{claName(rolloutService): o.rollout}, time.Minute); err != nil {
		return fmt.Errorf("waiting for the rollout service: %w", err)
	}
	if t.base, err = measure(ctx, t.sh, o.settle); err != nil {
		return err
	}
	for p := range numProtocols {
		f := &fleet{addr: t.sh.XDSAddr, proto: p}
		t.fleets[p] = f
		logf("%s: connecting %d %s clients", t.name, o.clients, p)
		start := time.Now()
		err := benchenv.ForEach(o.clients, o.parallel, func(i int) error {
			names := []string{claName(serviceName(int(p)))}
			if p == sotw {
				names = append(names, claName(rolloutService))
			}
			for _, k := range rand.Perm(o.services - 2)[:min(o.random, o.services-2)] {
				names = append(names, claName(serviceName(k+2)))
			}
			_, err := f.connect(ctx, i, names)
			return err
		})
		if err != nil {
			return err
		}
		t.connectTime[p] = time.Since(start)
		logf("%s: %d %s clients connected and answered in %v", t.name, o.clients, p, t.connectTime[p].Round(time.Millisecond))
		if t.conns[p], err = measure(ctx, t.sh, o.settle); err != nil {
			return err
		}
	}
	return t.alive()
}

func (t *target) alive() error {
	for _, f := range t.fleets {
		if f == nil {
			continue
		}
		if err := f.alive(); err != nil {
			return fmt.Errorf("%s: %w", t.name, err)
		}
	}
	select {
	case <-t.sh.Exited():
		return fmt.Errorf("%s: shoal up exited; its log ends:\n%s", t.name, t.sh.LogTail(20))
	default:
	}
	return nil
}

// closeFleets disconnects every client of the fan-out phase.
func (t *target) closeFleets() {
	for _, f := range t.fleets {
		if f != nil {
			f.closeAll()
		}
	}
}

func (t *target) stop() {
	t.closeFleets()
	if t.sh != nil {
		t.sh.Stop()
	}
}
