package apiserver

import (
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/shoalmesh/shoal/controlplane/auth"
)

type schemaGroupResource = schema.GroupResource

type metrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	watches  prometheus.Gauge
	authz    *prometheus.CounterVec
	// streams counts open exec, attach and port-forward streams.
	streams *prometheus.GaugeVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "shoal", Subsystem: "apiserver", Name: "requests_total",
			Help: "API requests by verb, resource and HTTP code.",
		}, []string{"verb", "resource", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "shoal", Subsystem: "apiserver", Name: "request_duration_seconds",
			Help:    "API request latency by verb and resource (watches excluded).",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
		}, []string{"verb", "resource"}),
		watches: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: "shoal", Subsystem: "apiserver", Name: "watches",
			Help: "Open watch requests.",
		}),
		authz: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "shoal", Subsystem: "apiserver", Name: "authorization_decisions_total",
			Help: "Authorization decisions (requests, impersonation, bind and escalate checks) by decision and by the authorizer that allowed them: node, superuser, rbac, or none for a denial.",
		}, []string{"decision", "authorizer"}),
		streams: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: "shoal", Subsystem: "apiserver", Name: "pod_streams",
			Help: "Open pods/exec, pods/attach and pods/portforward streams, by subresource.",
		}, []string{"subresource"}),
	}
	reg.MustRegister(m.requests, m.duration, m.watches, m.authz, m.streams)
	return m
}

// observe records one request. Labels come from small fixed sets: the verb
// and a served resource name, never a free-form path.
func (m *metrics) observe(r *http.Request, ri requestInfo, code int, d time.Duration) {
	verb, resource := ri.Verb, ""
	if ri.Info != nil {
		resource = ri.Info.Name
		switch ri.Subresource {
		case "status", "scale", "log", subExec, subAttach, subPortForward:
			resource += "/" + ri.Subresource
		}
	}
	if verb == "" {
		verb = "nonresource"
	}
	m.requests.WithLabelValues(verb, resource, strconv.Itoa(code)).Inc()
	// Streams last as long as their user: their time is not latency.
	if verb != "watch" && !isConnect(ri) && ri.Subresource != "log" {
		m.duration.WithLabelValues(verb, resource).Observe(d.Seconds())
	}
}

// authorized counts one authorization decision.
func (m *metrics) authorized(d auth.Decision) {
	if d.Allowed {
		m.authz.WithLabelValues("allowed", d.By).Inc()
		return
	}
	m.authz.WithLabelValues("denied", "none").Inc()
}
