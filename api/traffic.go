package api

import (
	"encoding/json"
	"fmt"
	"math"
)

// TrafficPrefix is where every xDS replica publishes the traffic its
// clients (Envoy, gRPC, Shoal's proxies) report over LRS: one etcd key per
// replica, TrafficPrefix+<replica>, on a lease of a few seconds so that a
// dead replica's reports vanish, rewritten about once a second. The value
// is a TrafficReport as JSON:
//
//	{"10.244.0.7":{"rps":41.5,"inFlight":3,"errorRate":0,"latency":0.012,"cpu":-1,"reporters":2}}
//
// The xDS weights leader merges the replicas' reports into endpoint
// weights; the HorizontalPodAutoscaler controller reads them as the
// per-pod metrics MetricRequestsPerSecond and MetricInFlightRequests.
const TrafficPrefix = "/shoal/xds/load/"

// The Pods metrics Shoal serves to HorizontalPodAutoscalers from the
// proxies' traffic reports (type: Pods, pods.metric.name), without a
// metrics adapter. Kubernetes refuses a metric name with a "/", so they are
// named in the Prometheus style of Shoal's own metrics.
const (
	// MetricRequestsPerSecond is the requests per second sent to a pod, by
	// every client that reports over LRS.
	MetricRequestsPerSecond = "shoal_requests_per_second"
	// MetricInFlightRequests is the requests in flight to a pod.
	MetricInFlightRequests = "shoal_in_flight_requests"
)

// EndpointLoad is the cluster-wide load of one endpoint (a pod IP), summed
// over the reporters one replica heard from.
type EndpointLoad struct {
	// RPS is the rate of issued requests per second.
	RPS float64 `json:"rps"`
	// InFlight is the number of requests in flight.
	InFlight float64 `json:"inFlight"`
	// ErrorRate is the fraction (0..1) of finished requests that failed.
	ErrorRate float64 `json:"errorRate"`
	// Latency is the mean response time in seconds of the requests whose
	// reporters timed them; 0 when none did.
	Latency float64 `json:"latency"`
	// CPU is the pod's CPU use in cores, negative when unknown.
	CPU float64 `json:"cpu"`
	// Reporters is how many reporters have a current sample of the
	// endpoint; 0 when only CPU is known.
	Reporters int `json:"reporters"`
}

// TrafficReport is what one replica publishes: the load of each endpoint
// IP (in canonical form) its clients report.
type TrafficReport map[string]EndpointLoad

// ParseTrafficReport decodes and checks one replica's report. (Field names
// match case-insensitively, so reports written before the JSON tags, with
// "RPS" and "InFlight", read the same.)
func ParseTrafficReport(b []byte) (TrafficReport, error) {
	var r TrafficReport
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("traffic report: %w", err)
	}
	bad := func(v float64) bool { return v < 0 || math.IsNaN(v) || math.IsInf(v, 0) }
	for ip, l := range r {
		if bad(l.RPS) || bad(l.InFlight) || bad(l.Latency) || l.Reporters < 0 || math.IsNaN(l.CPU) {
			return nil, fmt.Errorf("traffic report: %s: rps, inFlight, latency and reporters must be non-negative numbers", ip)
		}
	}
	return r, nil
}

// Merge adds other's load into r: rates and in-flight counts add, error
// rates and latencies average by request rate, CPU (per pod, the same
// whoever reports it) takes the larger figure.
func (r TrafficReport) Merge(other TrafficReport) {
	for ip, o := range other {
		l, ok := r[ip]
		if !ok {
			r[ip] = o
			continue
		}
		if rps := l.RPS + o.RPS; rps > 0 {
			l.ErrorRate = (l.ErrorRate*l.RPS + o.ErrorRate*o.RPS) / rps
			if l.Latency > 0 && o.Latency > 0 {
				l.Latency = (l.Latency*l.RPS + o.Latency*o.RPS) / rps
			}
		}
		if l.Latency == 0 {
			l.Latency = o.Latency
		}
		l.RPS += o.RPS
		l.InFlight += o.InFlight
		l.Reporters += o.Reporters
		l.CPU = max(l.CPU, o.CPU)
		r[ip] = l
	}
}
