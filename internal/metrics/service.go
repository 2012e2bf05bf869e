package metrics

import (
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

// UnknownService labels the series of a proxy that names no service.
const UnknownService = "unknown"

// Deleter is a metric vector whose series can be deleted by label.
type Deleter interface {
	DeletePartialMatch(prometheus.Labels) int
}

// ServiceSeries counts the users of each value of the "service" label of
// a set of vectors, and deletes a value's series when its last user lets
// go. Several proxies may serve one service (a listener being replaced
// drains while its successor serves), so deleting on the first release
// would leave the survivor counting into series no longer exported.
type ServiceSeries struct {
	vecs []Deleter

	mu sync.Mutex
	n  map[string]int
}

// NewServiceSeries covers vecs, each labelled "service".
func NewServiceSeries(vecs ...Deleter) *ServiceSeries {
	return &ServiceSeries{vecs: vecs, n: map[string]int{}}
}

// Acquire counts one more user of service and returns the label value to
// use (UnknownService for "").
func (s *ServiceSeries) Acquire(service string) string {
	if service == "" {
		service = UnknownService
	}
	s.mu.Lock()
	s.n[service]++
	s.mu.Unlock()
	return service
}

// Release counts one user of service (as Acquire returned it) gone, and
// deletes the service's series when it was the last. Call it once per
// Acquire.
func (s *ServiceSeries) Release(service string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.n[service]--; s.n[service] > 0 {
		return
	}
	delete(s.n, service)
	for _, v := range s.vecs {
		v.DeletePartialMatch(prometheus.Labels{"service": service})
	}
}
