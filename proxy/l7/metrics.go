package l7

import (
	"bufio"
	"net"
	"net/http"
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/shoalmesh/shoal/internal/metrics"
)

// Metrics of every L7 listener of the process, by service (the xDS
// cluster name); the other labels are small fixed sets.
var (
	requestsTotal = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "shoal", Subsystem: "proxy", Name: "requests_total",
		Help: "HTTP requests answered, by service and status class (1xx to 5xx; a request whose client " +
			"left before any response counts as 4xx, one cut by shutdown as 5xx).",
	}, []string{"service", "code"})
	activeRequests = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: "shoal", Subsystem: "proxy", Name: "active_requests",
		Help: "HTTP requests in flight now, by service.",
	}, []string{"service"})
	requestDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: "shoal", Subsystem: "proxy", Name: "request_duration_seconds",
		Help:    "Time from a request's headers to the end of its response (of the whole stream for streams), by service.",
		Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
	}, []string{"service"})
	upstreamErrors = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "shoal", Subsystem: "proxy", Name: "upstream_errors_total",
		Help: "Attempts that got no response from an endpoint, by service and kind (connect: the connect " +
			"failed; reset: the connection was reset or closed before the response headers; other: " +
			"any other transport error), and requests that found no endpoint (no_endpoint).",
	}, []string{"service", "kind"})
	retriesTotal = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "shoal", Subsystem: "proxy", Name: "retries_total",
		Help: "Requests sent again to another endpoint after a failed attempt, each retry counted, by service.",
	}, []string{"service"})

	series = metrics.NewServiceSeries(requestsTotal, activeRequests, requestDuration, upstreamErrors, retriesTotal)
)

// RegisterMetrics adds the L7 proxy's metrics to reg (the process's
// registry, served on the agent's /metrics). Registering twice is not an
// error.
func RegisterMetrics(reg prometheus.Registerer) error {
	return metrics.Register(reg, requestsTotal, activeRequests, requestDuration, upstreamErrors, retriesTotal)
}

// serviceMetrics are one service's series, resolved once so that the hot path
// does no label lookup.
type serviceMetrics struct {
	service  string
	requests [6]prometheus.Counter // by status class, 1 to 5
	active   prometheus.Gauge
	duration prometheus.Observer
	retries  prometheus.Counter

	errConnect, errReset, errOther, errNoEndpoint prometheus.Counter

	releaseOnce sync.Once
}

// acquireMetrics returns service's series, creating them if needed.
func acquireMetrics(service string) *serviceMetrics {
	service = series.Acquire(service)
	m := &serviceMetrics{
		service:       service,
		active:        activeRequests.WithLabelValues(service),
		duration:      requestDuration.WithLabelValues(service),
		retries:       retriesTotal.WithLabelValues(service),
		errConnect:    upstreamErrors.WithLabelValues(service, "connect"),
		errReset:      upstreamErrors.WithLabelValues(service, "reset"),
		errOther:      upstreamErrors.WithLabelValues(service, "other"),
		errNoEndpoint: upstreamErrors.WithLabelValues(service, "no_endpoint"),
	}
	for c := 1; c <= 5; c++ {
		m.requests[c] = requestsTotal.WithLabelValues(service, string(rune('0'+c))+"xx")
	}
	return m
}

// release drops m's proxy from its service's users (once) and deletes the
// service's series when it was the last.
func (m *serviceMetrics) release() {
	m.releaseOnce.Do(func() { series.Release(m.service) })
}

// statusWriter records the status of the response it writes. The
// ReverseProxy reaches Flush through Unwrap.
type statusWriter struct {
	http.ResponseWriter
	code int // the final status, 0 until written
}

func (w *statusWriter) WriteHeader(code int) {
	if w.code == 0 && (code >= 200 || code == http.StatusSwitchingProtocols) {
		w.code = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.code == 0 {
		w.code = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// Hijack is how the ReverseProxy answers 101 Switching Protocols: it
// writes the response on the hijacked connection, past WriteHeader.
func (w *statusWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	c, brw, err := http.NewResponseController(w.ResponseWriter).Hijack()
	if err == nil && w.code == 0 {
		w.code = http.StatusSwitchingProtocols
	}
	return c, brw, err
}

// class is the status class of code for requests_total (1 to 5); aborted
// tells a request with no response cut by Shutdown (5xx) from one whose
// client left (4xx, nginx's 499).
func class(code int, aborted bool) int {
	switch {
	case code >= 100 && code < 600:
		return code / 100
	case code == 0 && !aborted:
		return 4
	default:
		return 5
	}
}
