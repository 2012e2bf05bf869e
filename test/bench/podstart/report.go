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

func report(results []runResult, rate float64, cold coldResult, load string) {
	fmt.Println()
	fmt.Printf("Load average when done: %s (a shared 2-core machine).\n\n", load)
	fmt.Println("| pod start-up on the real agent (containerd; from the create call) | pods | p50 | p99 | target |")
	fmt.Println("|---|--:|--:|--:|---|")
	for _, r := range results {
		how := fmt.Sprintf("%s, steady %.0f pods/s", r.kind, rate)
		target := "p99 ≤ 1 s"
		if r.burst {
			how = fmt.Sprintf("%s, a burst of %d (last one %v after the first create)", r.kind, r.pods, r.elapsed.Round(time.Millisecond))
			target = "p99 ≤ 5 s"
		}
		fmt.Printf("| %s: Running and Ready | %d | %s | %s | %s |\n", how, r.pods, q(r.ready, 0.5), q(r.ready, 0.99), target)
		fmt.Printf("| %s: IP in the cluster DNS answer | %d | %s | %s | |\n", how, r.pods, q(r.inDNS, 0.5), q(r.inDNS, 0.99))
		fmt.Printf("| %s: IP HEALTHY in the xDS assignment | %d | %s | %s | |\n", how, r.pods, q(r.inEDS, 0.5), q(r.inEDS, 0.99))
	}
	fmt.Printf("| cold pull of a %s-byte image from a registry on loopback: the pull (Pulled event) | 1 | %s | | |\n", cold.imageSize, cold.pull)
	fmt.Printf("| the same pod: create → Running and Ready | 1 | %s | | |\n", cold.ready.Round(time.Millisecond))
	fmt.Println()
	fmt.Println("Anchor (published, not measured here): the Kubernetes pod start-up SLO is p99 ≤ 5 s, without image pulls.")
}
