package podautoscaler

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/shoalmesh/shoal/api"
	"github.com/shoalmesh/shoal/controlplane/controller"
	"github.com/shoalmesh/shoal/controlplane/controllers/controllertest"
	"github.com/shoalmesh/shoal/controlplane/controllers/deployment"
	"github.com/shoalmesh/shoal/controlplane/controllers/replicaset"
	"github.com/shoalmesh/shoal/controlplane/registry"
	"github.com/shoalmesh/shoal/controlplane/store"
)

// env runs the Deployment, ReplicaSet and HorizontalPodAutoscaler
// controllers on a real embedded etcd, the autoscaler with a short sync
// period and scale-down stabilization. The test stands in for the node
// agents (pods running and ready, their load on a node Lease) and for the
// xDS replicas (the proxies' traffic in etcd).
type env struct {
	*controllertest.Env
	// window is the autoscaler's default scale-down stabilization.
	window time.Duration
	ips    *atomic.Int32 // the last pod address handed out
}

func newEnv(t *testing.T) env {
	e := env{Env: controllertest.New(t), window: 2 * time.Second, ips: new(atomic.Int32)}
	e.Start(func(d controller.Deps) []controller.Controller {
		return []controller.Controller{replicaset.New(d), deployment.New(d), New(d, Config{
			SyncPeriod: 100 * time.Millisecond, DownscaleStabilization: e.window, CPUInitializationPeriod: time.Millisecond,
		})}
	})
	return e
}

// webDeployment is Deployment web of one replica whose pods request 100m
// CPU.
func webDeployment(name string) *appsv1.Deployment {
	return controllertest.Deployment(name, 1, func(d *appsv1.Deployment) {
		d.Spec.Template.Spec.Containers[0].Resources.Requests = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m")}
	})
}

func (e env) hpa(name, target string, maxReplicas int32, metrics ...autoscalingv2.MetricSpec) *autoscalingv2.HorizontalPodAutoscaler {
	e.T.Helper()
	return e.Create(registry.HorizontalPodAutoscalers, &autoscalingv2.HorizontalPodAutoscaler{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: name},
		Spec: autoscalingv2.HorizontalPodAutoscalerSpec{
			ScaleTargetRef: autoscalingv2.CrossVersionObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Name: target},
			MaxReplicas:    maxReplicas, Metrics: metrics,
		},
	}).(*autoscalingv2.HorizontalPodAutoscaler)
}

func cpuTarget(percent int32) autoscalingv2.MetricSpec {
	return autoscalingv2.MetricSpec{Type: autoscalingv2.ResourceMetricSourceType, Resource: &autoscalingv2.ResourceMetricSource{
		Name: corev1.ResourceCPU, Target: autoscalingv2.MetricTarget{Type: autoscalingv2.UtilizationMetricType, AverageUtilization: &percent}}}
}

func rpsTarget(avg string) autoscalingv2.MetricSpec {
	q := resource.MustParse(avg)
	return autoscalingv2.MetricSpec{Type: autoscalingv2.PodsMetricSourceType, Pods: &autoscalingv2.PodsMetricSource{
		Metric: autoscalingv2.MetricIdentifier{Name: api.MetricRequestsPerSecond},
		Target: autoscalingv2.MetricTarget{Type: autoscalingv2.AverageValueMetricType, AverageValue: &q}}}
}

// runPods reports every pod of app running and ready, as node agents
// would, and returns those that are (not being deleted).
func (e env) runPods(app string) []*corev1.Pod {
	e.T.Helper()
	var out []*corev1.Pod
	for _, p := range e.Pods(app) {
		if p.DeletionTimestamp != nil {
			continue
		}
		if p.Status.Phase != corev1.PodRunning {
			_, err := e.Reg.Update(e.Ctx, registry.Pods, p.Namespace, p.Name, "status", func(cur store.Object) (store.Object, error) {
				pod := cur.(*corev1.Pod)
				now := metav1.Now()
				pod.Status.Phase, pod.Status.StartTime = corev1.PodRunning, &now
				pod.Status.PodIP = fmt.Sprintf("10.244.0.%d", e.ips.Add(1))
				pod.Status.PodIPs = []corev1.PodIP{{IP: pod.Status.PodIP}}
				pod.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: now}}
				pod.ResourceVersion = ""
				return pod, nil
			}, registry.WriteOptions{})
			if apierrors.IsNotFound(err) {
				continue
			}
			if err != nil {
				e.T.Fatal(err)
			}
			o, err := e.Reg.Store.Get(e.Ctx, registry.Pods.Resource, p.Namespace, p.Name)
			if err != nil {
				continue
			}
			p = o.(*corev1.Pod)
		}
		out = append(out, p)
	}
	return out
}

// reportCPU puts cores of CPU for each of pods on node-1's Lease, as its
// node agent reports load.
func (e env) reportCPU(pods []*corev1.Pod, cores float64) {
	e.T.Helper()
	rep := api.LoadReport{CPU: 1, Memory: 1 << 30, Pods: len(pods), Time: time.Now(), PodLoads: map[string]api.PodLoad{}}
	for _, p := range pods {
		rep.PodLoads[p.Namespace+"/"+p.Name] = api.PodLoad{CPU: cores, Memory: 50 << 20}
	}
	holder := "node-1"
	renew := metav1.NewMicroTime(time.Now())
	l := &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Namespace: api.NodeLeaseNamespace, Name: "node-1"},
		Spec: coordinationv1.LeaseSpec{HolderIdentity: &holder, RenewTime: &renew}}
	if err := api.SetLoadReport(l, rep); err != nil {
		e.T.Fatal(err)
	}
	_, err := e.Reg.Update(e.Ctx, registry.Leases, api.NodeLeaseNamespace, "node-1", "", func(store.Object) (store.Object, error) { return l.DeepCopy(), nil }, registry.WriteOptions{})
	if apierrors.IsNotFound(err) {
		_, err = e.Reg.Create(e.Ctx, registry.Leases, l, registry.WriteOptions{})
	}
	if err != nil {
		e.T.Fatal(err)
	}
}

// reportTraffic publishes the proxies' traffic to pods, rps each, split
// between two xDS replicas, as each replica publishes what its clients
// report over LRS.
func (e env) reportTraffic(pods []*corev1.Pod, rps float64) {
	e.T.Helper()
	for _, replica := range []string{"xds-a", "xds-b"} {
		r := api.TrafficReport{}
		for _, p := range pods {
			r[p.Status.PodIP] = api.EndpointLoad{RPS: rps / 2, InFlight: 1, CPU: -1, Reporters: 1}
		}
		b, err := json.Marshal(r)
		if err != nil {
			e.T.Fatal(err)
		}
		if _, err := e.Reg.Store.Client().Put(e.Ctx, api.TrafficPrefix+replica, string(b)); err != nil {
			e.T.Fatal(err)
		}
	}
}

func (e env) getHPA(name string) *autoscalingv2.HorizontalPodAutoscaler {
	e.T.Helper()
	o, err := e.Reg.Store.Get(e.Ctx, registry.HorizontalPodAutoscalers.Resource, "default", name)
	if err != nil {
		e.T.Fatal(err)
	}
	return o.(*autoscalingv2.HorizontalPodAutoscaler)
}

func (e env) replicas(name string) int32 {
	e.T.Helper()
	o, err := e.Reg.Store.Get(e.Ctx, registry.Deployments.Resource, "default", name)
	if err != nil {
		e.T.Fatal(err)
	}
	return *o.(*appsv1.Deployment).Spec.Replicas
}

// waitReplicas keeps feeding load (feed, given the running pods) until the
// Deployment asks for want replicas.
func (e env) waitReplicas(name string, want int32, feed func([]*corev1.Pod)) {
	e.T.Helper()
	last := time.Time{}
	controllertest.Eventually(e.T, fmt.Sprintf("deployment %s at %d replicas", name, want), func() (bool, string) {
		if time.Since(last) > 50*time.Millisecond {
			feed(e.runPods(name))
			last = time.Now()
		}
		got := e.replicas(name)
		h := e.getHPA(name)
		return got == want, fmt.Sprintf("%d replicas; hpa status %+v", got, h.Status)
	})
}

func conditionOf(h *autoscalingv2.HorizontalPodAutoscaler, t autoscalingv2.HorizontalPodAutoscalerConditionType) autoscalingv2.HorizontalPodAutoscalerCondition {
	for _, c := range h.Status.Conditions {
		if c.Type == t {
			return c
		}
	}
	return autoscalingv2.HorizontalPodAutoscalerCondition{}
}

func (e env) waitEvent(obj store.Object, reason, prefix string) {
	e.T.Helper()
	controllertest.Eventually(e.T, "a "+reason+" event", func() (bool, string) {
		msgs := e.Events(obj, reason)
		return slices.ContainsFunc(msgs, func(m string) bool { return strings.HasPrefix(m, prefix) }), fmt.Sprint(msgs)
	})
}
