package nodeagent

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/types"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/shoalmesh/shoal/api"
)

// loadMeter turns counters (the node's CPU jiffies, each pod's cgroup CPU
// time) into rates between two reports.
type loadMeter struct {
	mu   sync.Mutex
	node cpuSample
	pods map[types.UID]podSample
}

type cpuSample struct {
	busy, total uint64 // jiffies, all CPUs
	ncpu        int
	ok          bool
}

type podSample struct {
	cpu time.Duration
	at  time.Time
}

// init takes the first node sample, so that the first report has a rate.
func (m *loadMeter) init() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.pods = map[types.UID]podSample{}
	if s, err := readCPUStat(); err == nil {
		m.node = s
	}
}

// measure builds the load report: the node's CPU over the last interval and
// memory in use, and each running pod's CPU and memory working set (from
// the runtime's container stats, one call for all) and established
// connections (counted in its network namespace).
func (a *Agent) measure(ctx context.Context) api.LoadReport {
	now := time.Now()
	r := api.LoadReport{Time: now, PodLoads: map[string]api.PodLoad{}}
	byPod := a.containerStats(ctx)
	m := &a.load
	m.mu.Lock()
	defer m.mu.Unlock()
	if s, err := readCPUStat(); err == nil {
		if prev := m.node; prev.ok && s.total > prev.total && s.busy >= prev.busy {
			r.CPU = float64(s.busy-prev.busy) / float64(s.total-prev.total) * float64(s.ncpu)
		}
		m.node = s
	}
	if mi, err := readMeminfo(); err == nil && mi["MemTotal"] >= mi["MemAvailable"] {
		r.Memory = int64(mi["MemTotal"] - mi["MemAvailable"])
	}
	seen := map[types.UID]bool{}
	for _, w := range a.allWorkers() {
		v := w.viewOf()
		if v.running == 0 {
			continue
		}
		r.Pods++
		seen[w.uid] = true
		st := byPod[w.uid]
		pl := api.PodLoad{Memory: int64(st.memory)}
		if prev, ok := m.pods[w.uid]; ok && st.cpu >= prev.cpu && now.After(prev.at) && st.ok {
			pl.CPU = (st.cpu - prev.cpu).Seconds() / now.Sub(prev.at).Seconds()
		}
		if st.ok {
			m.pods[w.uid] = podSample{cpu: st.cpu, at: now}
		}
		if !v.hostNetwork && v.sandboxPid > 0 {
			pl.Connections = countConnections(v.sandboxPid)
		}
		r.PodLoads[w.namespace+"/"+w.name] = pl
	}
	for uid := range m.pods {
		if !seen[uid] {
			delete(m.pods, uid)
		}
	}
	return r
}

// podStats is a pod's CPU time and memory working set, summed over its
// containers.
type podStats struct {
	cpu    time.Duration
	memory uint64
	ok     bool
}

// containerStats lists the stats of the node's containers and sums them by
// pod; a runtime that does not answer gives none (the report goes out
// without per-pod CPU).
func (a *Agent) containerStats(ctx context.Context) map[types.UID]podStats {
	ctx, cancel := context.WithTimeout(ctx, api.LoadInterval/2)
	defer cancel()
	list, err := a.cri.ListContainerStats(ctx, &runtimeapi.ContainerStatsFilter{LabelSelector: map[string]string{labelNode: a.cfg.NodeName}})
	if err != nil {
		if ctx.Err() == nil {
			a.log.Debug("container stats", "err", err)
		}
		return nil
	}
	out := map[types.UID]podStats{}
	for _, s := range list {
		uid := types.UID(s.GetAttributes().GetLabels()[labelPodUID])
		ps := out[uid]
		ps.cpu += time.Duration(s.GetCpu().GetUsageCoreNanoSeconds().GetValue())
		ps.memory += s.GetMemory().GetWorkingSetBytes().GetValue()
		ps.ok = true
		out[uid] = ps
	}
	return out
}

// readCPUStat reads the node's busy and total jiffies from /proc/stat.
func readCPUStat() (cpuSample, error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return cpuSample{}, err
	}
	return parseCPUStat(b)
}

func parseCPUStat(b []byte) (cpuSample, error) {
	var s cpuSample
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 0 || !strings.HasPrefix(f[0], "cpu") {
			continue
		}
		if f[0] != "cpu" {
			s.ncpu++
			continue
		}
		// user nice system idle iowait irq softirq steal (guest time is
		// already counted in user and nice).
		for i, v := range f[1:min(len(f), 9)] {
			n, err := strconv.ParseUint(v, 10, 64)
			if err != nil {
				return cpuSample{}, err
			}
			s.total += n
			if i != 3 && i != 4 { // idle, iowait
				s.busy += n
			}
		}
		s.ok = true
	}
	if !s.ok || s.ncpu == 0 {
		return cpuSample{}, errors.New("no cpu lines in /proc/stat")
	}
	return s, nil
}

// countConnections counts the established TCP connections in the network
// namespace of the process pid (a pod's pause process).
func countConnections(pid int) int64 {
	var n int64
	for _, f := range []string{"tcp", "tcp6"} {
		b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/net/" + f)
		if err != nil {
			continue
		}
		n += countEstablished(b)
	}
	return n
}

// countEstablished counts the lines of a /proc/net/tcp table whose state
// (the fourth column) is 01, TCP_ESTABLISHED.
func countEstablished(b []byte) int64 {
	var n int64
	for i, line := range bytes.Split(b, []byte("\n")) {
		if i == 0 {
			continue // header
		}
		f := bytes.Fields(line)
		if len(f) > 3 && string(f[3]) == "01" {
			n++
		}
	}
	return n
}
