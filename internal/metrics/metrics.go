// Package metrics registers a component's Prometheus collectors with the
// process's registry. Components keep their collectors in package
// variables, so a second instance in one process (tests run several)
// registers the same collectors again; that is not an error.
package metrics

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

// Register adds cs to reg, ignoring collectors reg already has.
func Register(reg prometheus.Registerer, cs ...prometheus.Collector) error {
	for _, c := range cs {
		if err := reg.Register(c); err != nil {
			if are := (prometheus.AlreadyRegisteredError{}); !errors.As(err, &are) {
				return err
			}
		}
	}
	return nil
}
