package dashboard

import "github.com/prometheus/client_golang/prometheus"

// Handler labels of shoal_dashboard_errors_total and the kinds of failure
// counted there.
const (
	handlerStream  = "stream"
	handlerHistory = "history"
	handlerLogin   = "login"
	handlerLogout  = "logout"
	handlerStatic  = "static"
)

type metrics struct {
	streams  prometheus.Gauge
	requests *prometheus.CounterVec
	errors   *prometheus.CounterVec
	logins   *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		streams: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: "shoal", Subsystem: "dashboard", Name: "streams",
			Help: "Open dashboard streams (one per browser tab showing the dashboard).",
		}),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "shoal", Subsystem: "dashboard", Name: "requests_total",
			Help: "Dashboard requests by handler (stream, history, login, logout, static) and HTTP code.",
		}, []string{"handler", "code"}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "shoal", Subsystem: "dashboard", Name: "errors_total",
			Help: "Dashboard failures by where they happened: a handler (stream: a write to a viewer failed), or the hub reading etcd (etcd) or an unreadable traffic report or weights (traffic, weights).",
		}, []string{"where"}),
		logins: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "shoal", Subsystem: "dashboard", Name: "logins_total",
			Help: "Login links traded for a session, by result (ok, refused).",
		}, []string{"result"}),
	}
	reg.MustRegister(m.streams, m.requests, m.errors, m.logins)
	return m
}
