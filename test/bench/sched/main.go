// Command sched measures the scheduler placing a burst of bare pods on
// simulated nodes: by default 10,000 pods with CPU and memory requests on
// 1000 nodes. The nodes are package schedulertest's (a Ready Node with
// capacity, and a Lease renewed every two seconds with a load report, as a
// node agent renews it; no processes). The scheduler runs in this process on
// the registry and shared caches, over an embedded etcd, as `shoal
// controlplane` runs it (minus the leader election); the pods are created
// through the registry by concurrent creators while it runs.
//
// Measured: pods/s from the first pod's create to the last pod's binding
// showing in the pod watch, and each pod's latency from just before its
// create call to its binding showing in the watch (p50, p99). It prints a
// Markdown table.
//
//	go run ./test/bench/sched [-nodes 1000] [-pods 10000] [-creators 16] [-binders 0]
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"os"
	"runtime/pprof"
	"time"

	"github.com/shoalmesh/shoal/api"
)

type config struct {
	nodes, pods, creators int
	binders               int // the scheduler's Config.Binders; 0 is its default
	leaseInterval         time.Duration
	timeout               time.Duration
	dataDir               string
}

func main() {
	var c config
	flag.IntVar(&c.nodes, "nodes", 1000, "simulated nodes (at most 4096)")
	flag.IntVar(&c.pods, "pods", 10000, "pods to schedule")
	flag.IntVar(&c.creators, "creators", 16, "concurrent pod creators")
	flag.IntVar(&c.binders, "binders", 0, "the scheduler's bindings in flight at once (Config.Binders); 0 is its default, as shoal controlplane runs it")
	flag.DurationVar(&c.leaseInterval, "lease-interval", api.LoadInterval, "how often each node renews its Lease with a load report")
	flag.DurationVar(&c.timeout, "timeout", 5*time.Minute, "give up if the pods are not all bound within this after the first create")
	flag.StringVar(&c.dataDir, "data-dir", "", "where to put etcd's data (a fresh temporary directory in it); default the system's temp dir")
	cpuProfile := flag.String("cpuprofile", "", "write a CPU profile of the measured phase to this file")
	flag.Parse()
	if c.nodes < 1 || c.nodes > 4096 || c.pods < 1 || c.creators < 1 || c.binders < 0 || c.leaseInterval <= 0 || c.timeout <= 0 {
		log.Fatal("sched: -nodes must be 1..4096; -pods, -creators, -lease-interval and -timeout positive; -binders not negative")
	}
	if max := c.nodes * maxPodsPerNode; c.pods > max {
		log.Fatalf("sched: %d pods do not fit on %d nodes of %d pods", c.pods, c.nodes, maxPodsPerNode)
	}
	var prof *os.File
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			log.Fatal("sched: ", err)
		}
		defer f.Close()
		prof = f
	}
	res, err := run(context.Background(), c, func(start bool) {
		if prof == nil {
			return
		}
		if start {
			if err := pprof.StartCPUProfile(prof); err != nil {
				log.Print("sched: cpu profile: ", err)
			}
		} else {
			pprof.StopCPUProfile()
		}
	})
	if err != nil {
		log.Fatal("sched: ", err)
	}
	report(os.Stdout, c, res)
}

func progress(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "sched: "+format+"\n", args...)
}
