// Package trafficload reads the traffic every xDS replica publishes in etcd
// (api.TrafficPrefix): the request rates and in-flight requests per
// endpoint that proxies and gRPC clients report over LRS. The xDS weights
// leader merges it into endpoint weights; the HorizontalPodAutoscaler
// controller reads it as per-pod metrics. Both read it here, so the format
// (package api) and the reading have one home that neither xds nor the
// controllers own.
package trafficload

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	corev1 "k8s.io/api/core/v1"

	"github.com/shoalmesh/shoal/api"
)

// readTimeout bounds the etcd read.
const readTimeout = 5 * time.Second

// Read returns every live replica's report merged into one, except the
// replica named skip (the caller's own, which it has fresher in memory;
// "" skips none). A replica's unreadable report is logged and left out
// rather than failing the whole read.
func Read(ctx context.Context, client *clientv3.Client, skip string, log *slog.Logger) (api.TrafficReport, error) {
	ctx, cancel := context.WithTimeout(ctx, readTimeout)
	defer cancel()
	resp, err := client.Get(ctx, api.TrafficPrefix, clientv3.WithPrefix())
	if err != nil {
		return nil, fmt.Errorf("read traffic reports: %w", err)
	}
	merged := api.TrafficReport{}
	for _, kv := range resp.Kvs {
		replica := strings.TrimPrefix(string(kv.Key), api.TrafficPrefix)
		if skip != "" && replica == skip {
			continue
		}
		r, err := api.ParseTrafficReport(kv.Value)
		if err != nil {
			if log != nil {
				log.Warn("ignoring a replica's unreadable traffic report", "replica", replica, "err", err)
			}
			continue
		}
		merged.Merge(r)
	}
	return merged, nil
}

// Key is the etcd key under which replica publishes its report.
func Key(replica string) string { return api.TrafficPrefix + replica }

// PodValues is a Pods metric of Shoal's own (api.MetricRequestsPerSecond
// or api.MetricInFlightRequests) for each of pods that has an address, by
// pod name, from a merged report. The proxies report every endpoint they
// send requests to, so a pod the report does not mention receives none:
// its value is 0. An unknown metric is an error naming the ones there are.
func PodValues(report api.TrafficReport, metric string, pods []*corev1.Pod) (map[string]float64, error) {
	pick := func(l api.EndpointLoad) float64 { return l.RPS }
	switch metric {
	case api.MetricRequestsPerSecond:
	case api.MetricInFlightRequests:
		pick = func(l api.EndpointLoad) float64 { return l.InFlight }
	default:
		return nil, fmt.Errorf("the metric is not served: Shoal serves the Pods metrics %s and %s, from its proxies' load reports",
			api.MetricRequestsPerSecond, api.MetricInFlightRequests)
	}
	out := map[string]float64{}
	for _, p := range pods {
		ips := p.Status.PodIPs
		if len(ips) == 0 && p.Status.PodIP != "" {
			ips = []corev1.PodIP{{IP: p.Status.PodIP}}
		}
		if len(ips) == 0 {
			continue
		}
		var v float64
		for _, ip := range ips {
			v += pick(report[ip.IP])
		}
		out[p.Name] = v
	}
	return out, nil
}
