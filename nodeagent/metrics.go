package nodeagent

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"github.com/shoalmesh/shoal/nodeagent/probe"
)

// metrics are one agent's: shoal_nodeagent_*, labelled by small fixed sets
// only (never a pod name).
type metrics struct {
	reg         *prometheus.Registry
	restarts    prometheus.Counter
	syncSeconds prometheus.Histogram
	writes      *prometheus.CounterVec
	renewals    *prometheus.CounterVec
	pulls       *prometheus.CounterVec
	pullSeconds prometheus.Histogram
}

func newMetrics(reg *prometheus.Registry) (*metrics, error) {
	if reg == nil {
		reg = prometheus.NewRegistry()
		reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	}
	m := &metrics{
		reg: reg,
		restarts: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "shoal", Subsystem: "nodeagent", Name: "container_restarts_total",
			Help: "Containers restarted (after an exit, a failed start or a failed liveness or startup probe).",
		}),
		syncSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: "shoal", Subsystem: "nodeagent", Name: "pod_sync_duration_seconds",
			Help:    "Time one sync of a pod took: network set-up, container starts and its status write.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}),
		writes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "shoal", Subsystem: "nodeagent", Name: "pod_status_writes_total",
			Help: "Writes of pods/status, by result (ok, conflict, error).",
		}, []string{"result"}),
		renewals: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "shoal", Subsystem: "nodeagent", Name: "lease_renewals_total",
			Help: "Renewals of the node's Lease (with its load report), by result (ok, error).",
		}, []string{"result"}),
		pulls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "shoal", Subsystem: "nodeagent", Name: "image_pulls_total",
			Help: "Image pulls through the runtime, by result (ok, error).",
		}, []string{"result"}),
		pullSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: "shoal", Subsystem: "nodeagent", Name: "image_pull_duration_seconds",
			Help:    "Time a successful image pull took.",
			Buckets: []float64{.05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 120, 300},
		}),
	}
	for _, c := range []prometheus.Collector{m.restarts, m.syncSeconds, m.writes, m.renewals, m.pulls, m.pullSeconds} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	if err := probe.RegisterMetrics(reg); err != nil {
		return nil, err
	}
	return m, nil
}

// register adds the gauges that read the agent's state at scrape time.
func (m *metrics) register(a *Agent) error {
	for _, c := range []prometheus.Collector{
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Namespace: "shoal", Subsystem: "nodeagent", Name: "pods_running",
			Help: "Pods with at least one running container.",
		}, func() float64 {
			n := 0
			for _, w := range a.allWorkers() {
				if w.viewOf().running > 0 {
					n++
				}
			}
			return float64(n)
		}),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Namespace: "shoal", Subsystem: "nodeagent", Name: "pods",
			Help: "Pods bound to the node that the agent tracks, whatever their phase.",
		}, func() float64 { return float64(len(a.allWorkers())) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Namespace: "shoal", Subsystem: "nodeagent", Name: "volume_object_watches",
			Help: "ConfigMaps and Secrets watched because running pods mount them as volumes.",
		}, func() float64 { return float64(a.volWatches.count()) }),
	} {
		if err := m.reg.Register(c); err != nil {
			return err
		}
	}
	return nil
}

func (m *metrics) statusWrites(err error) {
	m.writes.WithLabelValues(writeResult(err)).Inc()
}

func (m *metrics) imagePull(err error, took time.Duration) {
	if err != nil {
		m.pulls.WithLabelValues("error").Inc()
		return
	}
	m.pulls.WithLabelValues("ok").Inc()
	m.pullSeconds.Observe(took.Seconds())
}

func (m *metrics) leaseRenewals(err error) {
	if err != nil {
		m.renewals.WithLabelValues("error").Inc()
		return
	}
	m.renewals.WithLabelValues("ok").Inc()
}

func writeResult(err error) string {
	switch {
	case err == nil:
		return "ok"
	case apierrors.IsConflict(err):
		return "conflict"
	}
	return "error"
}
