package nodeagent_test

import (
	"fmt"
	"net/netip"
	"strings"
	"syscall"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/shoalmesh/shoal/api"
	"github.com/shoalmesh/shoal/internal/testenv"
	"github.com/shoalmesh/shoal/nodeagent"
)

// webDeployment is a Deployment of the test server with readiness and
// liveness probes every second, placed on the env's node.
func (e *testEnv) webDeployment(name string, replicas int32) *appsv1.Deployment {
	c := e.serverContainer("web")
	c.ReadinessProbe = &corev1.Probe{
		ProbeHandler:  corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/ready", Port: intstr.FromString("http")}},
		PeriodSeconds: 1, FailureThreshold: 1,
	}
	c.LivenessProbe = &corev1.Probe{
		ProbeHandler:  corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/healthz", Port: intstr.FromString("http")}},
		PeriodSeconds: 1, FailureThreshold: 2,
	}
	grace := int64(5)
	labels := map[string]string{"app": name}
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: name},
		Spec: appsv1.DeploymentSpec{
			Replicas: &replicas,
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{
					NodeSelector:                  map[string]string{corev1.LabelHostname: e.node},
					Containers:                    []corev1.Container{c},
					TerminationGracePeriodSeconds: &grace,
				},
			},
		},
	}
}

// waitReplicas waits until the pods labelled app=name are n, all Running
// and Ready, and returns them.
func (e *testEnv) waitReplicas(name string, n int, timeout time.Duration) []corev1.Pod {
	e.t.Helper()
	var pods []corev1.Pod
	testenv.Eventually(e.t, timeout, fmt.Sprintf("%d pods of %s running and ready", n, name), func() error {
		list, err := e.cs.CoreV1().Pods("default").List(e.t.Context(), metav1.ListOptions{LabelSelector: "app=" + name})
		if err != nil {
			return err
		}
		pods = pods[:0]
		for _, p := range list.Items {
			if p.DeletionTimestamp == nil {
				pods = append(pods, p)
			}
		}
		if len(pods) != n {
			return fmt.Errorf("%d pods", len(pods))
		}
		for i := range pods {
			if err := runningReady(&pods[i]); err != nil {
				return fmt.Errorf("%s: %v", pods[i].Name, err)
			}
		}
		return nil
	})
	return pods
}

// sliceReady returns the service's endpoints by address: ready or not.
func (e *testEnv) sliceReady(service string) (map[string]bool, error) {
	list, err := e.cs.DiscoveryV1().EndpointSlices("default").List(e.t.Context(), metav1.ListOptions{LabelSelector: discoveryv1.LabelServiceName + "=" + service})
	if err != nil {
		return nil, err
	}
	out := map[string]bool{}
	for _, s := range list.Items {
		for _, ep := range s.Endpoints {
			for _, a := range ep.Addresses {
				out[a] = ep.Conditions.Ready != nil && *ep.Conditions.Ready
			}
		}
	}
	return out, nil
}

func TestDeploymentRunsAndRecovers(t *testing.T) {
	e := newTestEnv(t)
	ctx := t.Context()
	if _, err := e.cs.AppsV1().Deployments("default").Create(ctx, e.webDeployment("web", 3), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "web"},
		Spec: corev1.ServiceSpec{Selector: map[string]string{"app": "web"},
			Ports: []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromString("http")}}},
	}
	if _, err := e.cs.CoreV1().Services("default").Create(ctx, svc, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	pods := e.waitReplicas("web", 3, 30*time.Second)
	t.Logf("3 replicas running and ready %v after the Deployment was created", time.Since(start).Round(time.Millisecond))

	for _, p := range pods {
		ip, err := netip.ParseAddr(p.Status.PodIP)
		if err != nil || !e.agent.PodCIDR().Contains(ip) || ip == e.agent.PodCIDR().Addr().Next() {
			t.Errorf("pod %s has IP %q, want one of the node's pod CIDR %s", p.Name, p.Status.PodIP, e.agent.PodCIDR())
		}
		if p.Status.HostIP != "127.0.0.1" || p.Status.StartTime == nil {
			t.Errorf("pod %s: hostIP %q, startTime %v", p.Name, p.Status.HostIP, p.Status.StartTime)
		}
		body, err := podHTTP(&p, "/")
		if err != nil || body != p.Name+"\n" {
			t.Errorf("GET / from %s: %q, %v", p.Name, body, err)
		}
		for _, cond := range []corev1.PodConditionType{corev1.PodScheduled, corev1.PodInitialized, corev1.ContainersReady, corev1.PodReady} {
			if c := podCondition(&p, cond); c == nil || c.Status != corev1.ConditionTrue || c.LastTransitionTime.IsZero() {
				t.Errorf("pod %s: condition %s is %+v", p.Name, cond, c)
			}
		}
	}
	testenv.Eventually(t, 10*time.Second, "the EndpointSlice lists the 3 pods ready", func() error {
		eps, err := e.sliceReady("web")
		if err != nil {
			return err
		}
		for _, p := range pods {
			if !eps[p.Status.PodIP] {
				return fmt.Errorf("endpoints %v lack %s ready", eps, p.Status.PodIP)
			}
		}
		return nil
	})

	t.Run("killed process restarts with back-off", func(t *testing.T) {
		p := pods[0]
		kill := func() {
			pid := e.mainPid(p.UID, "web")
			if pid == 0 {
				t.Fatal("no main process found")
			}
			if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
		}
		kill()
		got := e.waitPod(p.Name, 15*time.Second, "restarted once", func(p *corev1.Pod) error {
			if cs := p.Status.ContainerStatuses; len(cs) != 1 || cs[0].RestartCount != 1 || runningReady(p) != nil {
				return fmt.Errorf("%s", describeContainers(p))
			}
			return nil
		})
		if last := got.Status.ContainerStatuses[0].LastTerminationState.Terminated; last == nil || last.ExitCode != 137 || last.Reason != "Error" {
			t.Errorf("lastState after SIGKILL: %s", stateString(got.Status.ContainerStatuses[0].LastTerminationState))
		}
		// The second restart waits 2 s, in CrashLoopBackOff.
		kill()
		killed := time.Now()
		sawBackOff := false
		e.waitPod(p.Name, 15*time.Second, "restarted twice", func(p *corev1.Pod) error {
			cs := p.Status.ContainerStatuses[0]
			if w := cs.State.Waiting; w != nil && w.Reason == "CrashLoopBackOff" {
				sawBackOff = true
			}
			if cs.RestartCount != 2 || cs.State.Running == nil {
				return fmt.Errorf("%s", describeContainers(p))
			}
			return nil
		})
		if d := time.Since(killed); d < 1900*time.Millisecond {
			t.Errorf("second restart after %v, want a back-off of 2s", d)
		}
		if !sawBackOff {
			t.Errorf("never saw the container waiting in %s", "CrashLoopBackOff")
		}
		e.waitPod(p.Name, 10*time.Second, "ready again", runningReady)
	})

	t.Run("failing readiness leaves the endpoints and comes back", func(t *testing.T) {
		p := pods[1]
		if _, err := podHTTP(&p, "/set?ready=0"); err != nil {
			t.Fatal(err)
		}
		e.waitPod(p.Name, 10*time.Second, "not ready", func(p *corev1.Pod) error {
			if podReady(p) || p.Status.ContainerStatuses[0].Ready {
				return fmt.Errorf("still ready")
			}
			return nil
		})
		testenv.Eventually(t, 10*time.Second, "out of the EndpointSlice", func() error {
			if eps, err := e.sliceReady("web"); err != nil || eps[p.Status.PodIP] {
				return fmt.Errorf("endpoints %v, %v", eps, err)
			}
			return nil
		})
		if _, err := podHTTP(&p, "/set?ready=1"); err != nil {
			t.Fatal(err)
		}
		got := e.waitPod(p.Name, 10*time.Second, "ready again", runningReady)
		if rc := got.Status.ContainerStatuses[0].RestartCount; rc != 0 {
			t.Errorf("readiness restarted the container: restartCount %d", rc)
		}
		testenv.Eventually(t, 10*time.Second, "back in the EndpointSlice", func() error {
			if eps, err := e.sliceReady("web"); err != nil || !eps[p.Status.PodIP] {
				return fmt.Errorf("endpoints %v, %v", eps, err)
			}
			return nil
		})
	})

	t.Run("failing liveness restarts", func(t *testing.T) {
		p := pods[2]
		if _, err := podHTTP(&p, "/set?live=0"); err != nil {
			t.Fatal(err)
		}
		got := e.waitPod(p.Name, 20*time.Second, "restarted by its liveness probe", func(p *corev1.Pod) error {
			if cs := p.Status.ContainerStatuses[0]; cs.RestartCount != 1 || runningReady(p) != nil {
				return fmt.Errorf("%s", describeContainers(p))
			}
			return nil
		})
		last := got.Status.ContainerStatuses[0].LastTerminationState.Terminated
		if last == nil || !strings.Contains(last.Message, "Liveness probe failed") {
			t.Errorf("lastState after a liveness failure: %s", stateString(got.Status.ContainerStatuses[0].LastTerminationState))
		}
	})

	t.Run("lease carries the load report", func(t *testing.T) {
		testenv.Eventually(t, 10*time.Second, "a load report with 3 pods", func() error {
			l, err := e.cs.CoordinationV1().Leases(api.NodeLeaseNamespace).Get(ctx, e.node, metav1.GetOptions{})
			if err != nil {
				return err
			}
			r, ok, err := api.LoadReportOf(l)
			if err != nil || !ok {
				return fmt.Errorf("report %v, %v", ok, err)
			}
			if r.Pods != 3 || len(r.PodLoads) != 3 || r.Memory <= 0 {
				return fmt.Errorf("report %+v", r)
			}
			for _, p := range pods {
				if pl, ok := r.PodLoads["default/"+p.Name]; !ok || pl.Memory <= 0 {
					return fmt.Errorf("load of %s: %+v", p.Name, pl)
				}
			}
			if l.Spec.HolderIdentity == nil || *l.Spec.HolderIdentity != e.node || l.Spec.RenewTime == nil {
				return fmt.Errorf("lease spec %+v", l.Spec)
			}
			return nil
		})
	})

	t.Run("node", func(t *testing.T) {
		n, err := e.cs.CoreV1().Nodes().Get(ctx, e.node, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if n.Spec.PodCIDR != e.cfg.PodCIDR.String() {
			t.Errorf("podCIDR %q, want %s", n.Spec.PodCIDR, e.cfg.PodCIDR)
		}
		if got := int(n.Status.DaemonEndpoints.KubeletEndpoint.Port); got != int(e.agent.LogAddr().Port()) {
			t.Errorf("kubelet endpoint port %d, want %d", got, e.agent.LogAddr().Port())
		}
		if len(n.Status.Addresses) == 0 || n.Status.Addresses[0].Type != corev1.NodeInternalIP || n.Status.Addresses[0].Address != "127.0.0.1" {
			t.Errorf("addresses %+v", n.Status.Addresses)
		}
		if n.Status.Capacity.Pods().Value() != nodeagent.DefaultMaxPods || n.Status.Allocatable.Cpu().IsZero() || n.Status.Allocatable.Memory().IsZero() {
			t.Errorf("capacity %v allocatable %v", n.Status.Capacity, n.Status.Allocatable)
		}
		if c := nodeCondition(n, corev1.NodeReady); c == nil || c.Status != corev1.ConditionTrue || c.LastHeartbeatTime.IsZero() {
			t.Errorf("Ready condition %+v", c)
		}
		if n.Status.NodeInfo.KernelVersion == "" || n.Status.NodeInfo.KubeletVersion == "" {
			t.Errorf("nodeInfo %+v", n.Status.NodeInfo)
		}
	})

	t.Run("metrics", func(t *testing.T) {
		_, body, err := e.agentGet("/metrics")
		if err != nil {
			t.Fatal(err)
		}
		for _, want := range []string{"shoal_nodeagent_pods_running 3", "shoal_nodeagent_container_restarts_total 3",
			"shoal_nodeagent_pod_sync_duration_seconds_count", "shoal_nodeagent_probe_total"} {
			if !strings.Contains(body, want) {
				t.Errorf("/metrics lacks %q", want)
			}
		}
		if code, body, _ := e.agentGet("/healthz"); code != 200 {
			t.Errorf("/healthz: %d %s", code, body)
		}
	})
}

func podCondition(p *corev1.Pod, t corev1.PodConditionType) *corev1.PodCondition {
	for i := range p.Status.Conditions {
		if p.Status.Conditions[i].Type == t {
			return &p.Status.Conditions[i]
		}
	}
	return nil
}

func nodeCondition(n *corev1.Node, t corev1.NodeConditionType) *corev1.NodeCondition {
	for i := range n.Status.Conditions {
		if n.Status.Conditions[i].Type == t {
			return &n.Status.Conditions[i]
		}
	}
	return nil
}
