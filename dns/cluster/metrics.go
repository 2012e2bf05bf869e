package cluster

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// Metrics, in the registry CoreDNS's prometheus plugin serves.
var (
	rebuilds = promauto.NewCounter(prometheus.CounterOpts{
		Namespace: "shoal", Subsystem: "dns", Name: "index_rebuilds_total",
		Help: "Answer indexes built and published by the cluster plugin.",
	})
	rebuildSeconds = promauto.NewHistogram(prometheus.HistogramOpts{
		Namespace: "shoal", Subsystem: "dns", Name: "index_rebuild_duration_seconds",
		Help:    "Time to fold queued registry changes into a new answer index.",
		Buckets: prometheus.ExponentialBuckets(0.0001, 2, 14),
	})
	updateDelay = promauto.NewHistogram(prometheus.HistogramOpts{
		Namespace: "shoal", Subsystem: "dns", Name: "index_update_delay_seconds",
		Help:    "Time from a registry change reaching the plugin to the answers reflecting it.",
		Buckets: prometheus.ExponentialBuckets(0.0001, 2, 14),
	})
	indexNames = promauto.NewGauge(prometheus.GaugeOpts{
		Namespace: "shoal", Subsystem: "dns", Name: "index_names",
		Help: "Names in the current answer index: services' names and the names every zone has.",
	})
	indexAddresses = promauto.NewGauge(prometheus.GaugeOpts{
		Namespace: "shoal", Subsystem: "dns", Name: "index_addresses",
		Help: "Addresses with a PTR record in the current answer index.",
	})
	responsesTotal = promauto.NewCounterVec(prometheus.CounterOpts{
		Namespace: "shoal", Subsystem: "dns", Name: "cluster_responses_total",
		Help: "Responses of the cluster plugin by result.",
	}, []string{"result"})
)

// responses are the counters of responsesTotal, resolved once so that
// counting costs a query one atomic add.
var responses = struct {
	answer, nodata, nxdomain, servfail, refused, fallthrough_ prometheus.Counter
}{
	answer:       responsesTotal.WithLabelValues("answer"),
	nodata:       responsesTotal.WithLabelValues("nodata"),
	nxdomain:     responsesTotal.WithLabelValues("nxdomain"),
	servfail:     responsesTotal.WithLabelValues("servfail"),
	refused:      responsesTotal.WithLabelValues("refused"),
	fallthrough_: responsesTotal.WithLabelValues("fallthrough"),
}

func observeRebuild(idx *index, start, since time.Time) {
	now := time.Now()
	rebuilds.Inc()
	rebuildSeconds.Observe(now.Sub(start).Seconds())
	if !since.IsZero() {
		updateDelay.Observe(now.Sub(since).Seconds())
	}
	indexNames.Set(float64(idx.names.len()))
	indexAddresses.Set(float64(idx.ptrs.len()))
}
