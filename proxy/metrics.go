package proxy

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/shoalmesh/shoal/proxy/l4"
	"github.com/shoalmesh/shoal/proxy/l7"
)

// RegisterMetrics adds the proxy's metrics to reg (the node agent's
// registry, or the process's for `shoal proxy`): every listener's, per
// service, and its endpoints' states. Registering the listeners' again (a
// second proxy in the process) is not an error.
func (p *Proxy) RegisterMetrics(reg prometheus.Registerer) error {
	for _, register := range []func(prometheus.Registerer) error{l4.RegisterMetrics, l4.RegisterUDPMetrics, l7.RegisterMetrics} {
		if err := register(reg); err != nil {
			return err
		}
	}
	return reg.Register(endpointsCollector{p})
}

var endpointsDesc = prometheus.NewDesc("shoal_proxy_endpoints",
	"Endpoints of each service the proxy balances over, by state: ready (taking new work), draining (finishing what it has), ejected (by outlier detection after consecutive failures).",
	[]string{"service", "state"}, nil)

// endpointsCollector reads the proxy's clusters at scrape time.
type endpointsCollector struct{ p *Proxy }

func (c endpointsCollector) Describe(ch chan<- *prometheus.Desc) { ch <- endpointsDesc }

func (c endpointsCollector) Collect(ch chan<- prometheus.Metric) {
	for _, cs := range c.p.BalancerStates() {
		var ready, draining, ejected float64
		for _, h := range cs.Endpoints {
			switch {
			case h.Ejected:
				ejected++
			case h.Draining:
				draining++
			default:
				ready++
			}
		}
		ch <- prometheus.MustNewConstMetric(endpointsDesc, prometheus.GaugeValue, ready, cs.Name, "ready")
		ch <- prometheus.MustNewConstMetric(endpointsDesc, prometheus.GaugeValue, draining, cs.Name, "draining")
		ch <- prometheus.MustNewConstMetric(endpointsDesc, prometheus.GaugeValue, ejected, cs.Name, "ejected")
	}
}
