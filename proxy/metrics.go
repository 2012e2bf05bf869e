package proxy

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/shoalmesh/shoal/proxy/l4"
	"github.com/shoalmesh/shoal/proxy/l7"
)

// RegisterMetrics adds the data plane's metrics (every listener's, per
// service) to reg: the node agent's registry, or the admin endpoint's.
func RegisterMetrics(reg prometheus.Registerer) error {
	for _, register := range []func(prometheus.Registerer) error{l4.RegisterMetrics, l4.RegisterUDPMetrics, l7.RegisterMetrics} {
		if err := register(reg); err != nil {
			return err
		}
	}
	return nil
}
