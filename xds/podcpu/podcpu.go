// Package podcpu feeds the per-pod CPU that node agents report (on their
// Leases, see api.LoadReport) into the xDS load table, keyed by pod
// IP, so the cluster-wide weights see CPU as well as requests: a pod made
// busy by work no proxy reports (a batch job, a noisy neighbour in the pod)
// also gets less traffic.
package podcpu

import (
	"context"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/watch"

	"github.com/shoalmesh/shoal/api"
	"github.com/shoalmesh/shoal/controlplane/store"
	"github.com/shoalmesh/shoal/xds/load"
)

// Pods finds a pod by namespace and name (store.Cache is one).
type Pods interface {
	Get(namespace, name string) (store.Object, bool)
}

// Leases are the node Leases to follow (store.Cache is one).
type Leases interface {
	Subscribe(store.Handler) (unsubscribe func())
}

// Run copies every node's per-pod CPU into table until ctx ends.
func Run(ctx context.Context, leases Leases, pods Pods, table *load.Table) {
	unsubscribe := leases.Subscribe(func(e store.Event) {
		if e.Type != watch.Added && e.Type != watch.Modified {
			return
		}
		l, ok := e.Object.(*coordinationv1.Lease)
		if !ok || l.Namespace != api.NodeLeaseNamespace {
			return
		}
		Apply(l, pods, table, time.Now())
	})
	defer unsubscribe()
	<-ctx.Done()
}

// Apply records the per-pod CPU of one node's report.
func Apply(l *coordinationv1.Lease, pods Pods, table *load.Table, now time.Time) {
	r, ok, err := api.LoadReportOf(l)
	if !ok || err != nil {
		return
	}
	for key, pl := range r.PodLoads {
		ns, name, ok := cut(key)
		if !ok {
			continue
		}
		o, ok := pods.Get(ns, name)
		if !ok {
			continue
		}
		pod := o.(*corev1.Pod)
		if pod.Spec.HostNetwork || pod.Status.PodIP == "" {
			continue // a host-network pod shares the node's IP
		}
		table.SetCPU(pod.Status.PodIP, pl.CPU, now)
	}
}

func cut(key string) (ns, name string, ok bool) {
	for i := 0; i < len(key); i++ {
		if key[i] == '/' {
			return key[:i], key[i+1:], i > 0 && i < len(key)-1
		}
	}
	return "", "", false
}
