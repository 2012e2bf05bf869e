package main

import (
	"fmt"
	"time"

	"k8s.io/apimachinery/pkg/util/intstr"
)

func ptr[T any](v T) *T { return &v }

func intOrPort(p int32) intstr.IntOrString { return intstr.FromInt32(p) }

func q(d []time.Duration, p float64) string {
	if len(d) == 0 {
		return "-"
	}
	i := int(float64(len(d)-1) * p)
	return d[i].Round(time.Millisecond).String()
}

func report(steady, burst runResult, rate float64) {
	fmt.Println()
	fmt.Println("| pod start-up on the real agent (from the create call) | pods | p50 | p99 | target |")
	fmt.Println("|---|--:|--:|--:|---|")
	for _, r := range []runResult{steady, burst} {
		how := fmt.Sprintf("steady, %.0f pods/s", rate)
		if r.name == "burst" {
			how = fmt.Sprintf("burst, all at once (last one %v after the first create)", r.elapsed.Round(time.Millisecond))
		}
		fmt.Printf("| %s: Running and Ready | %d | %s | %s | p99 ≤ 1 s |\n", how, r.pods, q(r.ready, 0.5), q(r.ready, 0.99))
		fmt.Printf("| %s: IP in the cluster DNS answer | %d | %s | %s | |\n", how, r.pods, q(r.inDNS, 0.5), q(r.inDNS, 0.99))
		fmt.Printf("| %s: IP HEALTHY in the xDS assignment | %d | %s | %s | |\n", how, r.pods, q(r.inEDS, 0.5), q(r.inEDS, 0.99))
	}
	fmt.Println()
	fmt.Println("Anchor (published, not measured here): the Kubernetes pod start-up SLO is p99 ≤ 5 s, without image pulls.")
}
