package podautoscaler

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"

	"github.com/shoalmesh/shoal/api"
	"github.com/shoalmesh/shoal/controlplane/store"
	"github.com/shoalmesh/shoal/controlplane/trafficload"
)

// metricsSource reads the measurements the autoscaler works from, where
// Shoal keeps them: per-pod CPU and memory from the load reports node
// agents put on their Leases (what metrics.k8s.io serves), and per-pod
// request rates and in-flight requests from the traffic the xDS replicas
// publish (api.TrafficPrefix).
type metricsSource struct {
	leases *store.Cache
	etcd   *clientv3.Client
	log    *slog.Logger
}

var errNoResourceMetrics = errors.New("no metrics returned from resource metrics API")

// resource is the usage of resource (cpu or memory, in milli-units) of
// each of pods, as their nodes last reported it.
func (m metricsSource) resource(pods []*corev1.Pod, resource corev1.ResourceName) (podMetrics, error) {
	want := make(map[string]string, len(pods))
	for _, p := range pods {
		want[p.Namespace+"/"+p.Name] = p.Name
	}
	out := podMetrics{}
	for _, o := range m.leases.List(api.NodeLeaseNamespace, store.Predicate{}) {
		l := o.(*coordinationv1.Lease)
		rep, ok, err := api.LoadReportOf(l)
		if !ok || err != nil {
			continue
		}
		at := rep.Time
		if at.IsZero() && l.Spec.RenewTime != nil {
			at = l.Spec.RenewTime.Time
		}
		for key, load := range rep.PodLoads {
			name, ok := want[key]
			if !ok {
				continue
			}
			var v int64
			switch resource {
			case corev1.ResourceCPU:
				v = int64(math.Round(load.CPU * 1000))
			case corev1.ResourceMemory:
				v = load.Memory * 1000
			default:
				continue
			}
			out[name] = podMetric{value: v, timestamp: at, window: api.LoadInterval}
		}
	}
	if len(out) == 0 {
		return nil, errNoResourceMetrics
	}
	return out, nil
}

// trafficWindow is the window a traffic figure covers: about one report
// interval of the proxies.
const trafficWindow = time.Second

// traffic is a Pods metric of Shoal's own (api.MetricRequestsPerSecond or
// api.MetricInFlightRequests, in milli-units) for each of pods that has an
// IP; a pod the proxies send nothing to counts as 0 (trafficload.PodValues).
func (m metricsSource) traffic(ctx context.Context, metric string, pods []*corev1.Pod, now time.Time) (podMetrics, error) {
	if _, err := trafficload.PodValues(nil, metric, nil); err != nil {
		return nil, err
	}
	report, err := trafficload.Read(ctx, m.etcd, "", m.log)
	if err != nil {
		return nil, err
	}
	values, _ := trafficload.PodValues(report, metric, pods)
	if len(values) == 0 {
		return nil, errors.New("no metrics returned: none of the pods has an address yet")
	}
	out := make(podMetrics, len(values))
	for name, v := range values {
		out[name] = podMetric{value: int64(math.Round(v * 1000)), timestamp: now, window: trafficWindow}
	}
	return out, nil
}

// unsupportedSource explains why a metric source Shoal does not serve has
// no value.
func unsupportedSource(t string) error {
	return fmt.Errorf("no %s metrics are served by Shoal; use Resource metrics (cpu, memory) or the Pods metrics %s and %s",
		strings.ToLower(t), api.MetricRequestsPerSecond, api.MetricInFlightRequests)
}
