package serviceaccount

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/shoalmesh/shoal/internal/metrics"
)

// Token metrics. Labels come from small fixed sets: never a user, a
// namespace or a token.
var (
	issued = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "shoal", Subsystem: "serviceaccount", Name: "tokens_issued_total",
		Help: "Service account tokens issued through TokenRequest, by result (success, error).",
	}, []string{"result"})
	authentications = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "shoal", Subsystem: "serviceaccount", Name: "token_authentications_total",
		Help: "Bearer tokens of this issuer checked, by result: success, malformed, bad_signature, expired, not_yet_valid, wrong_audience, invalidated (its service account, pod, secret or node is gone or replaced), error.",
	}, []string{"result"})
	staleTokens = prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: "shoal", Subsystem: "serviceaccount", Name: "stale_tokens_total",
		Help: "Extended pod tokens used after the time their holder should have refreshed them (warnafter).",
	})
)

// RegisterMetrics adds the token metrics to reg.
func RegisterMetrics(reg prometheus.Registerer) error {
	return metrics.Register(reg, issued, authentications, staleTokens)
}
