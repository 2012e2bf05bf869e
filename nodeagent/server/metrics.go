package server

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
)

// Request kinds, the values of the kind label.
const (
	kindExec        = "exec"
	kindAttach      = "attach"
	kindPortForward = "portforward"
	kindLogs        = "logs"
)

type metrics struct {
	// requests counts requests to the stream and log endpoints by kind
	// and status class (101 for an upgraded stream).
	requests *prometheus.CounterVec
	// streams is the number of upgraded streams open, by kind.
	streams *prometheus.GaugeVec
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "shoal", Subsystem: "nodeagent", Name: "server_requests_total",
			Help: "Requests to the node server's exec, attach, port-forward and log endpoints, by kind and status (1xx is an upgraded stream).",
		}, []string{"kind", "code"}),
		streams: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: "shoal", Subsystem: "nodeagent", Name: "server_streams",
			Help: "Exec, attach and port-forward streams open through the node server.",
		}, []string{"kind"}),
	}
	for _, c := range []prometheus.Collector{m.requests, m.streams} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// codeClass is a status code's class, "2xx" and so on: a small fixed set.
func codeClass(code int) string {
	return strconv.Itoa(code/100) + "xx"
}
