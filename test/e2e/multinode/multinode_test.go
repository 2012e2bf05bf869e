package multinode

import (
	"fmt"
	"io"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"

	"github.com/shoalmesh/shoal/internal/testenv"
	"github.com/shoalmesh/shoal/nodeagent/nodeagenttest"
)

// TestPodsSpreadOverNodesAndTalkAcrossThem: three nodes, each a network
// namespace with its own agent; a Deployment's pods are spread over them by
// the scheduler, each answers from the host at its IP from its node's pod
// CIDR, and a pod on every node reaches a pod on every other node, which
// sees the client's own pod IP (host-gw routing, no NAT). A hostNetwork pod
// runs in its node's namespace, where its readiness probe reaches it on
// 127.0.0.1; its output comes back through the API server from the log
// server in that namespace.
func TestPodsSpreadOverNodesAndTalkAcrossThem(t *testing.T) {
	c := nodeagenttest.Start(t, nodeagenttest.Options{Nodes: 3, Images: images(t)})
	cs := c.Client
	ctx := t.Context()

	start := time.Now()
	createDeployment(t, cs, "web", 6)
	pods := waitReadyPods(t, cs, "app=web", 6, 60*time.Second)
	t.Logf("6 pods Running and Ready %v after the Deployment was created", time.Since(start).Round(time.Millisecond))

	byNode := map[string][]corev1.Pod{}
	for _, p := range pods {
		n := c.Node(p.Spec.NodeName)
		if n == nil {
			t.Fatalf("pod %s is on %q, not one of the cluster's nodes", p.Name, p.Spec.NodeName)
		}
		byNode[n.Name] = append(byNode[n.Name], p)
		ip := netip.MustParseAddr(p.Status.PodIP)
		if !n.PodCIDR.Contains(ip) || p.Status.HostIP != n.IP.String() {
			t.Errorf("pod %s on %s: IP %s, host IP %s; want an IP of %s and host IP %s", p.Name, n.Name, ip, p.Status.HostIP, n.PodCIDR, n.IP)
		}
		body, err := httpGet("http://" + netip.AddrPortFrom(ip, 8080).String() + "/hello")
		if want := fmt.Sprintf("hello from %s to %s\n", p.Name, c.HostIP); err != nil || body != want {
			t.Errorf("GET pod %s from the host: %q, %v; want %q", p.Name, body, err, want)
		}
	}
	var spread []string
	for _, n := range c.Nodes {
		spread = append(spread, fmt.Sprintf("%s: %d", n.Name, len(byNode[n.Name])))
		if len(byNode[n.Name]) == 0 {
			t.Errorf("no pod on %s", n.Name)
		}
	}
	t.Logf("pods per node: %s", strings.Join(spread, ", "))
	if t.Failed() {
		t.FailNow()
	}

	// From every node to a pod on every other node.
	type probe struct{ client, from, to, target string }
	var probes []probe
	for _, from := range c.Nodes {
		for _, to := range c.Nodes {
			if from == to {
				continue
			}
			target := byNode[to.Name][0]
			name := "get-" + from.Name + "-" + to.Name
			p := &corev1.Pod{
				ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: name},
				Spec: corev1.PodSpec{
					RestartPolicy: corev1.RestartPolicyNever,
					NodeSelector:  map[string]string{corev1.LabelHostname: from.Name},
					Containers: []corev1.Container{getContainer(
						"http://" + netip.AddrPortFrom(netip.MustParseAddr(target.Status.PodIP), 8080).String() + "/hello")},
				},
			}
			if _, err := cs.CoreV1().Pods("default").Create(ctx, p, metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
			probes = append(probes, probe{name, from.Name, to.Name, target.Name})
		}
	}
	for _, pr := range probes {
		p := waitPod(t, cs, pr.client, 60*time.Second, "Succeeded", func(p *corev1.Pod) error {
			switch p.Status.Phase {
			case corev1.PodSucceeded:
				return nil
			case corev1.PodFailed:
				t.Fatalf("pod %s (%s → %s) failed: %s\n%s", pr.client, pr.from, pr.to, describe(p), podLogs(t, cs, pr.client))
			}
			return fmt.Errorf("phase %s %s", p.Status.Phase, describe(p))
		})
		if p.Spec.NodeName != pr.from {
			t.Errorf("pod %s ran on %s, want %s", pr.client, p.Spec.NodeName, pr.from)
		}
		// Through the API server, from the log server in the node's namespace.
		out := podLogs(t, cs, pr.client)
		lines := strings.Split(strings.TrimSpace(out), "\n")
		clientIP, ok := strings.CutPrefix(lines[0], "client ")
		if !ok || len(lines) != 2 {
			t.Errorf("pod %s logged %q; want its IP and the answer", pr.client, out)
			continue
		}
		if ip, err := netip.ParseAddr(clientIP); err != nil || !c.Node(pr.from).PodCIDR.Contains(ip) {
			t.Errorf("pod %s on %s had IP %q, not one of %s", pr.client, pr.from, clientIP, c.Node(pr.from).PodCIDR)
		}
		if want := fmt.Sprintf("hello from %s to %s", pr.target, clientIP); lines[1] != want {
			t.Errorf("pod %s (%s → %s) got %q; want %q", pr.client, pr.from, pr.to, lines[1], want)
		}
	}
	t.Logf("%d pods reached a pod on another node, each seen with its own pod IP", len(probes))

	// A hostNetwork pod listens on 127.0.0.1 of its node: only a probe that
	// dials from inside the node's namespace finds it.
	node := c.Nodes[1]
	port := testenv.FreePort(t) // nothing on the host's 127.0.0.1 answers it
	hostNet := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "hostnet"},
		Spec: corev1.PodSpec{
			HostNetwork:  true,
			NodeSelector: map[string]string{corev1.LabelHostname: node.Name},
			Containers:   []corev1.Container{webContainer("127.0.0.1:" + strconv.Itoa(port))},
		},
	}
	hostNet.Spec.Containers[0].ReadinessProbe = &corev1.Probe{
		ProbeHandler:  corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Host: "127.0.0.1", Path: "/hello", Port: intstr.FromInt32(int32(port))}},
		PeriodSeconds: 1,
	}
	if _, err := cs.CoreV1().Pods("default").Create(ctx, hostNet, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	p := waitPod(t, cs, "hostnet", 30*time.Second, "Running and Ready", runningReady)
	if p.Status.PodIP != node.IP.String() {
		t.Errorf("hostNetwork pod IP %s, want its node's %s", p.Status.PodIP, node.IP)
	}
	resp, err := node.HTTPClient().Get("http://127.0.0.1:" + strconv.Itoa(port) + "/hello")
	var body string
	if err == nil {
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		body = string(b)
	}
	// A hostNetwork pod shares the node's UTS namespace too: the machine's
	// host name, as in Kubernetes.
	host, _ := os.Hostname()
	if err != nil || body != "hello from "+host+" to 127.0.0.1\n" {
		t.Errorf("GET 127.0.0.1:%d in %s's namespace: %q, %v", port, node.Name, body, err)
	}
	if _, err := httpGet("http://127.0.0.1:" + strconv.Itoa(port) + "/"); err == nil {
		t.Errorf("the hostNetwork pod of %s answers on the host's 127.0.0.1:%d: it is not in its node's namespace", node.Name, port)
	}
}

// TestKilledAgentsPodsMoveToTheOtherNode: two nodes run a Deployment behind
// a Service. One agent is killed with SIGKILL: its node goes NotReady, its
// pods leave the EndpointSlices, the DNS answer and the xDS assignment, and
// replacements run on the other node (the control plane's defaults: 4 s of
// grace, then 5 s before eviction; `make bench-failover` measures how fast,
// here the bounds are generous). Its pods keep running without it;
// restarted, the agent stops those, which were replaced, so nothing runs
// twice.
func TestKilledAgentsPodsMoveToTheOtherNode(t *testing.T) {
	c := nodeagenttest.Start(t, nodeagenttest.Options{Nodes: 2, Images: images(t)})
	pods := failoverSetup(t, c)
	victim, survivor, old := pickVictim(t, c, pods)
	r := killAndMeasure(t, c, victim, survivor, 60*time.Second)
	t.Logf("after the SIGKILL of %s's agent (%d of %d pods): NotReady %v, out of the EndpointSlices %v, DNS %v, EDS %v; pods deleted %v, replacements Running and Ready %v",
		victim.Name, len(old), failoverReplicas, r.notReady, r.slices, r.dns, r.eds, r.evicted, r.replaced)
	// The order the controller keeps: the node NotReady, then its pods
	// not ready, so whoever sees a pod leave finds its node NotReady.
	// (Each view is polled every 20-50 ms, over a loaded API: allow for that.)
	for name, d := range map[string]time.Duration{"EndpointSlices": r.slices, "DNS": r.dns, "EDS": r.eds} {
		if d+300*time.Millisecond < r.notReady {
			t.Errorf("the pods left the %s (%v) before their node was NotReady (%v)", name, d, r.notReady)
		}
		if d > 20*time.Second {
			t.Errorf("the pods left the %s %v after the agent died; want well within 20 s (the target is 5 s)", name, d)
		}
	}
	if r.replaced > 45*time.Second {
		t.Errorf("the replacements were Ready %v after the agent died; want well within 45 s (the target is 15 s)", r.replaced)
	}
	// Its pods outlive it, as containers outlive a dead kubelet, until it
	// comes back and stops them.
	if _, err := httpGet("http://" + old[0].Status.PodIP + ":8080/"); err != nil {
		t.Errorf("pod %s on the killed node stopped answering with its agent: %v", old[0].Name, err)
	}
	checkRestartedVictim(t, c, victim, old)
}

// createDeployment creates a Deployment of the pod server, with requests
// big enough that the scheduler's LeastAllocated spreads it.
func createDeployment(t testing.TB, cs kubernetes.Interface, name string, replicas int32) {
	t.Helper()
	c := webContainer(":8080")
	c.Ports = []corev1.ContainerPort{{Name: "http", ContainerPort: 8080}}
	c.ReadinessProbe = &corev1.Probe{
		ProbeHandler:  corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/", Port: intstr.FromString("http")}},
		PeriodSeconds: 1,
	}
	c.Resources.Requests = corev1.ResourceList{
		corev1.ResourceCPU:    resource.MustParse("200m"),
		corev1.ResourceMemory: resource.MustParse("2Gi"),
	}
	grace := int64(2)
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: name},
		Spec: appsv1.DeploymentSpec{
			Replicas: &replicas,
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": name}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": name}},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{c}, TerminationGracePeriodSeconds: &grace},
			},
		},
	}
	if _, err := cs.AppsV1().Deployments("default").Create(t.Context(), d, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

// webContainer runs the echoserver on addr.
func webContainer(addr string) corev1.Container {
	return corev1.Container{
		Name:  "web",
		Image: echoImage,
		Env:   []corev1.EnvVar{{Name: "LISTEN", Value: addr}},
	}
}

// getContainer prints "client <its pod IP>", then GETs url until it
// answers (at most 20 s) and prints the body; it fails if it never does.
func getContainer(url string) corev1.Container {
	return corev1.Container{
		Name:    "get",
		Image:   boxImage,
		Command: []string{"sh", "-c", `echo "client $POD_IP"; i=0; until timeout 3 wget -q -O - "$URL"; do i=$((i+1)); [ $i -ge 100 ] && exit 1; sleep 0.2; done`},
		Env: []corev1.EnvVar{
			{Name: "URL", Value: url},
			{Name: "POD_IP", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "status.podIP"}}},
		},
	}
}

// waitReadyPods waits until n pods matching selector are Running and
// Ready, and no others exist.
func waitReadyPods(t testing.TB, cs kubernetes.Interface, selector string, n int, timeout time.Duration) []corev1.Pod {
	t.Helper()
	var pods []corev1.Pod
	testenv.Eventually(t, timeout, fmt.Sprintf("%d pods %s Running and Ready", n, selector), func() error {
		list, err := cs.CoreV1().Pods("default").List(t.Context(), metav1.ListOptions{LabelSelector: selector})
		if err != nil {
			return err
		}
		var notReady []string
		for i := range list.Items {
			if err := runningReady(&list.Items[i]); err != nil {
				notReady = append(notReady, list.Items[i].Name+": "+err.Error())
			}
		}
		if len(list.Items) != n || len(notReady) > 0 {
			return fmt.Errorf("%d pods, not ready: %v", len(list.Items), notReady)
		}
		pods = list.Items
		return nil
	})
	return pods
}

func waitPod(t *testing.T, cs kubernetes.Interface, name string, timeout time.Duration, what string, cond func(*corev1.Pod) error) *corev1.Pod {
	t.Helper()
	var last *corev1.Pod
	testenv.Eventually(t, timeout, name+" "+what, func() error {
		p, err := cs.CoreV1().Pods("default").Get(t.Context(), name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		last = p
		return cond(p)
	})
	return last
}

func runningReady(p *corev1.Pod) error {
	if p.Status.Phase != corev1.PodRunning || !podReady(p) {
		return fmt.Errorf("phase %s, ready %v %s", p.Status.Phase, podReady(p), describe(p))
	}
	return nil
}

func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

func describe(p *corev1.Pod) string {
	var b strings.Builder
	for _, cs := range p.Status.ContainerStatuses {
		fmt.Fprintf(&b, "[%s ready=%v", cs.Name, cs.Ready)
		switch s := cs.State; {
		case s.Waiting != nil:
			fmt.Fprintf(&b, " waiting %s: %s", s.Waiting.Reason, s.Waiting.Message)
		case s.Terminated != nil:
			fmt.Fprintf(&b, " terminated %d %s: %s", s.Terminated.ExitCode, s.Terminated.Reason, s.Terminated.Message)
		}
		b.WriteString("]")
	}
	return b.String()
}

func podLogs(t *testing.T, cs kubernetes.Interface, name string) string {
	t.Helper()
	b, err := cs.CoreV1().Pods("default").GetLogs(name, &corev1.PodLogOptions{}).DoRaw(t.Context())
	if err != nil {
		t.Fatalf("logs of %s: %v", name, err)
	}
	return string(b)
}

// readyEndpoints lists the ready addresses of a Service's EndpointSlices.
func readyEndpoints(t testing.TB, cs kubernetes.Interface, svc string) []netip.Addr {
	t.Helper()
	l, err := cs.DiscoveryV1().EndpointSlices("default").List(t.Context(), metav1.ListOptions{LabelSelector: discoveryv1.LabelServiceName + "=" + svc})
	if err != nil {
		t.Fatal(err)
	}
	var out []netip.Addr
	for _, s := range l.Items {
		for _, e := range s.Endpoints {
			if e.Conditions.Ready == nil || !*e.Conditions.Ready {
				continue
			}
			for _, a := range e.Addresses {
				if ip, err := netip.ParseAddr(a); err == nil {
					out = append(out, ip)
				}
			}
		}
	}
	slices.SortFunc(out, netip.Addr.Compare)
	return out
}

func readyMessage(n *corev1.Node) string {
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return fmt.Sprintf("Ready=%s %s: %s", c.Status, c.Reason, c.Message)
		}
	}
	return "no Ready condition"
}
