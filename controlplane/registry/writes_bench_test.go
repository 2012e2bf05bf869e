package registry_test

import (
	"fmt"
	"strings"
	"sync/atomic"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/shoalmesh/shoal/controlplane/registry"
	"github.com/shoalmesh/shoal/controlplane/registry/registrytest"
	"github.com/shoalmesh/shoal/controlplane/store"
	"github.com/shoalmesh/shoal/controlplane/store/storetest"
)

// BenchmarkWrites is what recording managedFields costs a write: creates
// of a Deployment and updates of its spec through the registry into a
// real etcd (fsync on), with managedFields recorded as Shoal runs and
// without (registry.Untracked), by one writer and by 8 at once. It reports
// writes/s, the process's CPU time per write (etcd's included) and the
// bytes one Deployment takes in etcd.
// `make bench-managedfields` runs it.
func BenchmarkWrites(b *testing.B) {
	e := storetest.StartEtcd(b)
	for _, mode := range []string{"managedFields", "untracked"} {
		r := registrytest.New(b, e.Client(b), "")
		if mode == "untracked" {
			registry.Untracked(r)
		}
		for _, op := range []string{"create", "update"} {
			for _, writers := range []int{1, 8} {
				b.Run(fmt.Sprintf("%s/%s/writers=%d", op, mode, writers), func(b *testing.B) {
					benchWrites(b, r, strings.ToLower(fmt.Sprintf("%s-%s-%d-%d-", op, mode, writers, runs.Add(1))), op == "update", writers)
				})
			}
		}
	}
}

// runs numbers the runs of BenchmarkWrites' sub-benchmarks, which name
// their objects by it (-count runs each again on the same etcd).
var runs atomic.Int64

func benchWrites(b *testing.B, r *registry.Registry, prefix string, update bool, writers int) {
	ctx := b.Context()
	var next atomic.Int64
	create := func(name string) {
		if _, err := r.Create(ctx, registry.Deployments, benchDeployment(name), registry.WriteOptions{FieldManager: "bench"}); err != nil {
			b.Error(err)
		}
	}
	b.SetParallelism(writers) // GOMAXPROCS × writers goroutines
	b.ResetTimer()
	cpu := registry.ProcessCPU()
	b.RunParallel(func(pb *testing.PB) {
		own := fmt.Sprintf("%sw%d", prefix, next.Add(1))
		if update {
			create(own)
		}
		for i := 0; pb.Next(); i++ {
			if !update {
				create(fmt.Sprintf("%s-%d", own, i))
				continue
			}
			if _, err := r.Update(ctx, registry.Deployments, "default", own, "", func(cur store.Object) (store.Object, error) {
				d := cur.(*appsv1.Deployment)
				d.Spec.Replicas = new(int32(2 + i%2))
				d.Spec.Template.Annotations = map[string]string{"rollout": fmt.Sprint(i)}
				d.ResourceVersion = ""
				return d, nil
			}, registry.WriteOptions{FieldManager: "bench"}); err != nil {
				b.Error(err)
			}
		}
	})
	b.StopTimer()
	registry.ReportCPU(b, cpu)
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "writes/s")
	one := prefix + "w1"
	if !update {
		one += "-0"
	}
	resp, err := r.Store.Client().Get(ctx, registry.Deployments.Prefix+"default/"+one)
	if err == nil && len(resp.Kvs) == 1 {
		b.ReportMetric(float64(len(resp.Kvs[0].Value)), "stored-bytes")
	}
}

// benchDeployment is an ordinary Deployment: one container with ports,
// env, resources and a probe.
func benchDeployment(name string) *appsv1.Deployment {
	labels := map[string]string{"app": name}
	return &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: name, Labels: labels},
		Spec: appsv1.DeploymentSpec{Replicas: new(int32(3)), Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels}, Spec: corev1.PodSpec{Containers: []corev1.Container{{
				Name: "web", Image: "registry.local/web:1", Command: []string{"/web", "-addr=:8080"},
				Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 8080}},
				Env:   []corev1.EnvVar{{Name: "MODE", Value: "prod"}, {Name: "LEVEL", Value: "info"}},
				Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{
					corev1.ResourceCPU: resource.MustParse("100m"), corev1.ResourceMemory: resource.MustParse("64Mi")}},
				ReadinessProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/ready", Port: intstr.FromString("http")}}},
			}}}}}}
}
