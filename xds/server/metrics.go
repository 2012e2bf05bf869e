package server

import (
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/shoalmesh/shoal/internal/metrics"
)

// Metrics of the xDS server, labelled by small fixed sets (protocol, xDS
// type, resource kind), never by node or resource name.
var (
	streamsGauge = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: "shoal", Subsystem: "xds", Name: "streams",
		Help: "Open xDS streams, by protocol (sotw or delta).",
	}, []string{"protocol"})
	responsesTotal = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "shoal", Subsystem: "xds", Name: "responses_total",
		Help: "xDS responses (pushes) sent, by type.",
	}, []string{"type"})
	nacksTotal = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "shoal", Subsystem: "xds", Name: "nacks_total",
		Help: "xDS responses that clients rejected, by type.",
	}, []string{"type"})
	resourcesGauge = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: "shoal", Subsystem: "xds", Name: "resources",
		Help: "Resources served, by kind.",
	}, []string{"kind"})
	rejectedTotal = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "shoal", Subsystem: "xds", Name: "rejected_streams_total",
		Help: "Streams closed because of a bad request, by reason.",
	}, []string{"reason"})
)

// responseCounters are responsesTotal's series, looked up once: a push to
// a thousand clients counts a thousand responses.
var responseCounters = func() map[string]prometheus.Counter {
	m := map[string]prometheus.Counter{}
	for _, u := range []string{resourcev3.ListenerType, resourcev3.RouteType, resourcev3.ClusterType, resourcev3.EndpointType, ""} {
		m[u] = responsesTotal.WithLabelValues(typeLabel(u))
	}
	return m
}()

func responseCounter(typeURL string) prometheus.Counter {
	if c, ok := responseCounters[typeURL]; ok {
		return c
	}
	return responseCounters[""]
}

// RegisterMetrics adds the xDS server's metrics to reg (the process's
// registry, served on the API server's /metrics).
func RegisterMetrics(reg prometheus.Registerer) error {
	return metrics.Register(reg, streamsGauge, responsesTotal, nacksTotal, resourcesGauge, rejectedTotal)
}
