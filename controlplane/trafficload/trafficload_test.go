package trafficload_test

import (
	"encoding/json"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/shoalmesh/shoal/api"
	"github.com/shoalmesh/shoal/controlplane/store/storetest"
	"github.com/shoalmesh/shoal/controlplane/trafficload"
)

// Every replica's report is read and merged, but the one skipped and one
// that cannot be read.
func TestRead(t *testing.T) {
	client := storetest.StartEtcd(t).Client(t)
	ctx := t.Context()
	put := func(replica, value string) {
		if _, err := client.Put(ctx, trafficload.Key(replica), value); err != nil {
			t.Fatal(err)
		}
	}
	report := func(rps float64) string {
		b, _ := json.Marshal(api.TrafficReport{"10.244.0.7": {RPS: rps, InFlight: 1, CPU: -1, Reporters: 1}})
		return string(b)
	}
	put("a", report(10))
	put("b", report(30))
	put("self", report(1000))
	put("broken", "{")
	got, err := trafficload.Read(ctx, client, "self", nil)
	if err != nil {
		t.Fatal(err)
	}
	if l := got["10.244.0.7"]; l.RPS != 40 || l.InFlight != 2 || l.Reporters != 2 {
		t.Errorf("merged %+v; want a and b summed, self and the broken report left out", l)
	}
}

func TestPodValues(t *testing.T) {
	pod := func(name string, ips ...string) *corev1.Pod {
		p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name}}
		for _, ip := range ips {
			p.Status.PodIPs = append(p.Status.PodIPs, corev1.PodIP{IP: ip})
		}
		return p
	}
	report := api.TrafficReport{"10.244.0.7": {RPS: 12, InFlight: 2}, "fd00::7": {RPS: 3, InFlight: 1}}
	pods := []*corev1.Pod{pod("dual", "10.244.0.7", "fd00::7"), pod("idle", "10.244.0.8"), pod("pending")}
	got, err := trafficload.PodValues(report, api.MetricRequestsPerSecond, pods)
	if err != nil || len(got) != 2 || got["dual"] != 15 || got["idle"] != 0 {
		t.Errorf("requests per second %v, %v; want dual 15 (both addresses), idle 0, none for the pod without an address", got, err)
	}
	got, _ = trafficload.PodValues(report, api.MetricInFlightRequests, pods)
	if got["dual"] != 3 {
		t.Errorf("in flight %v; want dual 3", got)
	}
	if _, err := trafficload.PodValues(report, "http_requests", pods); err == nil {
		t.Error("an unknown metric gave values")
	}
}
