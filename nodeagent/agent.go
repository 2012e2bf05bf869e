package nodeagent

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"

	"github.com/shoalmesh/shoal/internal/netns"
	"github.com/shoalmesh/shoal/nodeagent/containerd"
	"github.com/shoalmesh/shoal/nodeagent/probe"
)

// Agent is a node agent: it registers its Node, heartbeats with load
// reports, and runs the pods bound to it.
type Agent struct {
	cfg     Config
	log     *slog.Logger
	client  kubernetes.Interface
	metrics *metrics

	ready   chan struct{} // closed once Run has started everything
	logAddr netip.AddrPort

	// Set by Run before ready is closed.
	rt             *containerd.Runtime // nil when a test gives a fake runtime
	cri            criRuntime
	images         criImages
	emptyImage     string // the built-in image of image-less containers
	runtimeVersion string // containerd://1.6.20
	net            nodeNetwork
	probes         *probe.Manager
	hookProber     *probe.Prober
	podCIDR        netip.Prefix
	events         *recorder
	ln             net.Listener
	health         runtimeHealth
	relist         relist

	podInformer cache.SharedIndexInformer
	volWatches  *volumeWatches  // the ConfigMaps and Secrets pods mount
	runCtx      context.Context // ends when Run's does, before the pods are stopped
	bg          sync.WaitGroup  // background clean-ups

	mu      sync.Mutex
	workers map[types.UID]*podWorker
	// stopping is set when Run's context ends: no new workers start.
	stopping bool

	node  nodeState
	lease leaseState
	load  loadMeter
}

// New checks cfg and the machine (see Preflight) and prepares an Agent.
// It changes nothing on the node: Run does.
func New(cfg Config) (*Agent, error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	if err := Preflight(cfg.RuntimeEndpoint); err != nil {
		return nil, err
	}
	rc := rest.CopyConfig(cfg.REST)
	if rc.QPS == 0 {
		// client-go's default (5/s) throttles the status writes of a node
		// that starts many pods at once.
		rc.QPS, rc.Burst = 50, 100
	}
	if rc.UserAgent == "" {
		rc.UserAgent = "shoal-nodeagent/" + cfg.NodeName
	}
	client, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return nil, fmt.Errorf("%w: API client: %v", ErrInvalidConfig, err)
	}
	m, err := newMetrics(cfg.Metrics)
	if err != nil {
		return nil, err
	}
	a := &Agent{
		cfg:     cfg,
		log:     cfg.Logger.With("component", "nodeagent", "node", cfg.NodeName),
		client:  client,
		metrics: m,
		ready:   make(chan struct{}),
		workers: map[types.UID]*podWorker{},
	}
	a.volWatches = newVolumeWatches(a)
	if err := m.register(a); err != nil {
		return nil, fmt.Errorf("agent metrics: %w", err)
	}
	return a, nil
}

// Ready is closed once Run has registered the node, adopted what a previous
// agent left and started serving.
func (a *Agent) Ready() <-chan struct{} { return a.ready }

// LogAddr is where the node server (nodeagent/server: exec, attach,
// port-forward, logs, /healthz, /metrics over HTTPS) listens, valid once
// Ready is closed.
func (a *Agent) LogAddr() netip.AddrPort { return a.logAddr }

// PodCIDR is the node's pod CIDR, valid once Ready is closed.
func (a *Agent) PodCIDR() netip.Prefix { return a.podCIDR }

// Runtime is the CRI runtime the agent drives, for the node's streaming
// server (exec, attach, port-forward), valid once Ready is closed.
func (a *Agent) Runtime() *containerd.Runtime { return a.rt }

// DialNode connects from the node's network namespace (where the
// runtime's stream server listens on 127.0.0.1), as probes do.
func (a *Agent) DialNode(ctx context.Context, network, addr string) (net.Conn, error) {
	if dial := a.probeDial(); dial != nil {
		return dial(ctx, network, addr)
	}
	return probe.DialContext(ctx, network, addr)
}

// Run runs the agent, once, until ctx ends: it registers the Node (retrying until
// the API server answers), sets up the pod network with the Node's pod
// CIDR, adopts the containers and sandboxes a previous agent left, and runs
// the pods bound to the node. When ctx ends it stops the pods and removes
// their network (unless KeepPodsOnStop) and returns nil; an error means it
// could not start.
func (a *Agent) Run(ctx context.Context) (err error) {
	var cleanup []func()
	defer func() {
		if err != nil {
			for i := len(cleanup) - 1; i >= 0; i-- {
				cleanup[i]()
			}
		}
	}()
	err = netns.DoPath(a.cfg.NetNS, func() (err error) {
		a.ln, err = net.Listen("tcp", a.cfg.LogAddr)
		return err
	})
	if err != nil {
		return fmt.Errorf("node server: listen on %s: %w", a.cfg.LogAddr, err)
	}
	cleanup = append(cleanup, func() { a.ln.Close() })
	a.logAddr = a.ln.Addr().(*net.TCPAddr).AddrPort()

	node, err := a.register(ctx)
	if err != nil {
		return err
	}
	srv, err := a.newServer(ctx)
	if err != nil {
		return err
	}
	a.net, err = a.setupNodeNetwork(ctx, a.podCIDR)
	if err != nil {
		return fmt.Errorf("pod network: %w", err)
	}
	cleanup = append(cleanup, func() { a.net.Close(context.WithoutCancel(ctx), false) })
	if err := a.startRuntime(ctx); err != nil {
		return fmt.Errorf("container runtime: %w", err)
	}
	cleanup = append(cleanup, a.closeRuntime)

	runCtx, cancel := context.WithCancel(a.criContext(ctx))
	defer cancel()
	a.runCtx = runCtx
	left, err := a.listLeftovers(runCtx)
	if err != nil {
		return fmt.Errorf("adopt containers: %w", err)
	}
	a.probes = probe.New(runCtx, probe.Options{Version: a.cfg.Version, Logger: a.cfg.Logger, Dial: a.probeDial()})
	cleanup = append(cleanup, a.probes.Close)
	a.hookProber = probe.NewProberDial(a.cfg.Version, a.probeDial())
	a.events = newRecorder(a.client, a.cfg.NodeName, a.log)

	pods, err := a.startPodInformer(runCtx)
	if err != nil {
		return err
	}
	a.load.init()
	a.adopt(runCtx, pods, left)

	var wg sync.WaitGroup
	wg.Go(func() { a.events.run(runCtx) })
	wg.Go(func() { a.runProbeUpdates(runCtx) })
	wg.Go(func() { a.runLease(runCtx) })
	wg.Go(func() { a.runNodeStatus(runCtx, node) })
	wg.Go(func() { a.runRelist(runCtx) })
	wg.Go(func() { a.watchRuntime(runCtx) })
	wg.Go(func() { a.runLogRotation(runCtx) })
	if !a.cfg.NoPeerRoutes {
		wg.Go(func() { a.runPeers(runCtx) })
	}
	srvCtx, stopSrv := context.WithCancel(context.WithoutCancel(ctx))
	wg.Go(func() {
		if err := srv.Serve(srvCtx, a.ln); err != nil {
			a.log.Error("node server", "err", err)
		}
	})
	a.log.Info("node agent running", "pod_cidr", a.podCIDR, "node_ip", a.cfg.NodeIP, "node_server", a.logAddr,
		"runtime", a.rt.Endpoint, "runtime_version", a.runtimeVersion)
	close(a.ready)

	<-ctx.Done()
	a.shutdown(runCtx, cancel)
	stopSrv()
	wg.Wait()
	return nil
}

// probeDial is how probes connect: from the node's namespace.
func (a *Agent) probeDial() probe.DialFunc {
	if a.cfg.NetNS == "" {
		return nil // probe.DialContext, from here
	}
	return func(ctx context.Context, nw, addr string) (c net.Conn, err error) {
		err = netns.DoPath(a.cfg.NetNS, func() (err error) {
			c, err = probe.DialContext(ctx, nw, addr)
			return err
		})
		return c, err
	}
}

// shutdown stops the pod workers and, unless KeepPodsOnStop, the pods, then
// releases the runtime and the network.
func (a *Agent) shutdown(runCtx context.Context, cancel context.CancelFunc) {
	a.mu.Lock()
	a.stopping = true
	workers := make([]*podWorker, 0, len(a.workers))
	for _, w := range a.workers {
		workers = append(workers, w)
	}
	a.mu.Unlock()
	cancel() // stops informers, probes, heartbeats and every worker's loop
	for _, w := range workers {
		<-w.done
	}
	a.bg.Wait()
	ctx, stop := context.WithTimeout(context.WithoutCancel(runCtx), shutdownTimeout)
	defer stop()
	keep := a.cfg.KeepPodsOnStop
	if !keep {
		var wg sync.WaitGroup
		for _, w := range workers {
			wg.Go(func() { w.stopForShutdown(ctx) })
		}
		wg.Wait()
		a.removeLeftovers(ctx)
		a.markNodeStopped(ctx)
	}
	a.probes.Close()
	a.closeRuntime()
	if !keep && a.rt != nil {
		if err := a.rt.RemoveState(); err != nil {
			a.log.Warn("remove containerd's state", "err", err)
		}
	}
	// Leave nothing behind when the pods went too: not even the bridge.
	if err := a.net.Close(ctx, !keep); err != nil {
		a.log.Error("close pod network", "err", err)
	}
	if !keep {
		if err := containerd.RemoveCgroupTree(a.cfg.CgroupRoot); err != nil {
			a.log.Warn("remove the agent's cgroups", "err", err)
		}
	}
	a.log.Info("node agent stopped", "pods_kept", keep)
}

// removeLeftovers removes what is still in the runtime of this node's pods
// once the workers have stopped theirs: the pods of a previous agent that
// were being removed in the background when this one stopped (the stop
// cancelled that work). With the pods going, none of them may stay, their
// network least of all.
func (a *Agent) removeLeftovers(ctx context.Context) {
	left, err := a.listLeftovers(ctx)
	if err != nil {
		a.log.Warn("list what is left in the runtime", "err", err)
		return
	}
	var wg sync.WaitGroup
	for uid, l := range left {
		wg.Go(func() { a.removeOrphan(ctx, uid, l) })
	}
	wg.Wait()
}

// shutdownTimeout bounds stopping every pod when the agent stops: each gets
// its grace period up to maxShutdownGrace, then SIGKILL.
const (
	shutdownTimeout  = 30 * time.Second
	maxShutdownGrace = 10 * time.Second
)

// worker returns the worker of a pod, or nil.
func (a *Agent) worker(uid types.UID) *podWorker {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.workers[uid]
}

// findPod returns the worker of the pod namespace/name, preferring one that
// is not terminating (a pod recreated under the same name).
func (a *Agent) findPod(namespace, name string) *podWorker {
	a.mu.Lock()
	defer a.mu.Unlock()
	var found *podWorker
	for _, w := range a.workers {
		if w.namespace == namespace && w.name == name {
			if found == nil || !w.isTerminating() {
				found = w
			}
		}
	}
	return found
}
