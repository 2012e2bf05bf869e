package l4

import "github.com/prometheus/client_golang/prometheus"

// Metrics of every L4 listener of the process; labels are small fixed sets.
var (
	connectionsTotal = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "shoal", Subsystem: "proxy", Name: "connections_total",
		Help: "Downstream TCP connections handled, by result (proxied, no_endpoint, connect_failed).",
	}, []string{"result"})
	activeConnections = prometheus.NewGauge(prometheus.GaugeOpts{
		Namespace: "shoal", Subsystem: "proxy", Name: "active_connections",
		Help: "Downstream TCP connections open now.",
	})
	bytesTotal = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "shoal", Subsystem: "proxy", Name: "bytes_total",
		Help: "Bytes proxied, by direction (upstream: client to endpoint, downstream: endpoint to client).",
	}, []string{"direction"})
	connectFailures = prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: "shoal", Subsystem: "proxy", Name: "connect_failures_total",
		Help: "Failed connects to an endpoint, each retry counted.",
	})

	resultProxied       = connectionsTotal.WithLabelValues("proxied")
	resultNoEndpoint    = connectionsTotal.WithLabelValues("no_endpoint")
	resultConnectFailed = connectionsTotal.WithLabelValues("connect_failed")
	bytesUpstream       = bytesTotal.WithLabelValues("upstream")
	bytesDownstream     = bytesTotal.WithLabelValues("downstream")
)

// RegisterMetrics adds the L4 proxy's metrics to reg (the process's
// registry, served on the agent's /metrics).
func RegisterMetrics(reg prometheus.Registerer) error {
	for _, c := range []prometheus.Collector{connectionsTotal, activeConnections, bytesTotal, connectFailures} {
		if err := reg.Register(c); err != nil {
			if _, dup := err.(prometheus.AlreadyRegisteredError); !dup {
				return err
			}
		}
	}
	return nil
}
