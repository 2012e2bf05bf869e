package nodeagent_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/shoalmesh/shoal/internal/testenv"
	"github.com/shoalmesh/shoal/nodeagent"
)

// waitingWith holds for a pod whose only container waits with reason and a
// message containing msg.
func waitingWith(reason, msg string) func(*corev1.Pod) error {
	return func(p *corev1.Pod) error {
		if cs := p.Status.ContainerStatuses; len(cs) == 1 && cs[0].State.Waiting != nil &&
			cs[0].State.Waiting.Reason == reason && strings.Contains(cs[0].State.Waiting.Message, msg) {
			return nil
		}
		return fmt.Errorf("phase %s, %s", p.Status.Phase, describeContainers(p))
	}
}

func TestBadInputGetsClearStatus(t *testing.T) {
	e := newTestEnv(t)
	never := func(p *corev1.Pod) *corev1.Pod { p.Spec.RestartPolicy = corev1.RestartPolicyNever; return p }

	good := e.create(e.pod("good", e.serverContainer("web")))
	e.create(e.pod("missing", corev1.Container{Name: "app", Command: []string{"no-such-command-xyz"}}))
	e.create(never(e.pod("missing-never", corev1.Container{Name: "app", Command: []string{"no-such-command-xyz"}})))
	e.create(e.pod("oom", corev1.Container{Name: "hog", Command: []string{"tail", "/dev/zero"},
		Resources: corev1.ResourceRequirements{Limits: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("48Mi")}}}))
	e.create(e.pod("secret", corev1.Container{Name: "app", Command: []string{"sleep", "3600"},
		Env: []corev1.EnvVar{{Name: "PASSWORD", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{
			LocalObjectReference: corev1.LocalObjectReference{Name: "db"}, Key: "password"}}}}}))
	// No registry answers for docker.io here: the pull fails.
	e.create(e.pod("no-registry", corev1.Container{Name: "app", Image: "nginx:1.27"}))
	done := e.create(never(e.pod("done", corev1.Container{Name: "app", Command: []string{"sh", "-c", "exit 0"}})))
	failed := e.create(never(e.pod("failed", corev1.Container{Name: "app", Command: []string{"sh", "-c", "exit 3"}})))

	e.waitPod("missing", 15*time.Second, "waiting with the exec error", func(p *corev1.Pod) error {
		if err := waitingWith("RunContainerError", "executable file not found")(p); err != nil {
			return err
		}
		cs := p.Status.ContainerStatuses[0]
		if last := cs.LastTerminationState.Terminated; last == nil || last.Reason != "StartError" || cs.RestartCount < 1 {
			return fmt.Errorf("restarts %d, lastState %s", cs.RestartCount, stateString(cs.LastTerminationState))
		}
		if p.Status.Phase != corev1.PodRunning {
			return fmt.Errorf("phase %s", p.Status.Phase)
		}
		return nil
	})
	e.waitPod("missing-never", 15*time.Second, "failed with the exec error", func(p *corev1.Pod) error {
		cs := p.Status.ContainerStatuses
		if p.Status.Phase != corev1.PodFailed || len(cs) != 1 || cs[0].State.Terminated == nil ||
			cs[0].State.Terminated.Reason != "StartError" || !strings.Contains(cs[0].State.Terminated.Message, "executable file not found") {
			return fmt.Errorf("phase %s, %s", p.Status.Phase, describeContainers(p))
		}
		return nil
	})
	e.waitPod("oom", 20*time.Second, "OOMKilled", func(p *corev1.Pod) error {
		cs := p.Status.ContainerStatuses
		if len(cs) != 1 || cs[0].LastTerminationState.Terminated == nil || cs[0].LastTerminationState.Terminated.Reason != "OOMKilled" {
			return fmt.Errorf("%s", describeContainers(p))
		}
		return nil
	})
	e.waitPod("secret", 10*time.Second, "a config error", waitingWith("CreateContainerConfigError", `secret "db" not found`))
	e.waitPod("no-registry", 30*time.Second, "a failed pull", func(p *corev1.Pod) error {
		if err := waitingWith("ErrImagePull", "nginx")(p); err == nil {
			return nil
		}
		return waitingWith("ImagePullBackOff", "nginx")(p)
	})
	for _, name := range []string{"secret", "no-registry"} {
		if p := e.get(name); p.Status.Phase != corev1.PodPending {
			t.Errorf("%s: phase %s, want Pending", name, p.Status.Phase)
		}
	}
	e.waitPod("done", 10*time.Second, "Succeeded", func(p *corev1.Pod) error {
		if p.Status.Phase != corev1.PodSucceeded || podReady(p) {
			return fmt.Errorf("phase %s, ready %v, %s", p.Status.Phase, podReady(p), describeContainers(p))
		}
		if s := p.Status.ContainerStatuses[0].State.Terminated; s == nil || s.Reason != "Completed" {
			return fmt.Errorf("%s", describeContainers(p))
		}
		return nil
	})
	e.waitPod("failed", 10*time.Second, "Failed", func(p *corev1.Pod) error {
		if s := p.Status.ContainerStatuses; p.Status.Phase != corev1.PodFailed || s[0].State.Terminated == nil || s[0].State.Terminated.ExitCode != 3 {
			return fmt.Errorf("phase %s, %s", p.Status.Phase, describeContainers(p))
		}
		return nil
	})
	// An ended pod keeps its status but not its sandbox (nor its network).
	for _, p := range []*corev1.Pod{done, failed} {
		testenv.Eventually(t, 5*time.Second, p.Name+"'s sandbox removed", func() error {
			if left := nodeagent.RuntimeLeft(e.agent, p.UID); len(left) > 0 {
				return fmt.Errorf("left in the runtime: %v", left)
			}
			return nil
		})
	}
	// The agent served its good pod all along.
	p := e.waitPod("good", 10*time.Second, "running and ready", runningReady)
	if rc := p.Status.ContainerStatuses[0].RestartCount; rc != 0 {
		t.Errorf("the good pod restarted %d times", rc)
	}
	if _, err := podHTTP(p, "/"); err != nil {
		t.Error(err)
	}
	_ = good
}

func TestHostNetworkDownwardEnvAndExecProbes(t *testing.T) {
	e := newTestEnv(t)
	port := testenv.FreePort(t)
	c := e.serverContainer("web", fmt.Sprintf("LISTEN=127.0.0.1:%d", port))
	c.Ports = nil
	c.ReadinessProbe = &corev1.Probe{
		ProbeHandler:  corev1.ProbeHandler{TCPSocket: &corev1.TCPSocketAction{Port: intstr.FromInt(port)}},
		PeriodSeconds: 1,
	}
	hn := e.pod("hostnet", c)
	hn.Spec.HostNetwork = true
	e.create(hn)

	// A ConfigMap's and a Secret's values in env and envFrom.
	if _, err := e.cs.CoreV1().ConfigMaps("default").Create(t.Context(), &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "env-cm"},
		Data: map[string]string{"MODE": "fast"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.cs.CoreV1().Secrets("default").Create(t.Context(), &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "env-secret"},
		Data: map[string][]byte{"PW": []byte("s3cret")}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	env := e.pod("env", corev1.Container{Name: "app", Command: []string{"sh", "-c", "echo \"$(GREETING) $POD_IP $NAME $NODE $HOSTNAME $MODE $S_PW $KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT\"; hostname; cat /etc/resolv.conf; sleep 3600"},
		EnvFrom: []corev1.EnvFromSource{{Prefix: "S_", SecretRef: &corev1.SecretEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "env-secret"}}}},
		Env: []corev1.EnvVar{
			{Name: "MODE", ValueFrom: &corev1.EnvVarSource{ConfigMapKeyRef: &corev1.ConfigMapKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "env-cm"}, Key: "MODE"}}},
			{Name: "GREETING", Value: "hi"},
			{Name: "POD_IP", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "status.podIP"}}},
			{Name: "NAME", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}}},
			{Name: "NODE", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "spec.nodeName"}}},
		}})
	e.create(env)

	// An exec probe runs in the container's namespaces: its UTS namespace
	// has the pod's host name, its mount namespace the pod's resolv.conf.
	ex := e.pod("exec", corev1.Container{Name: "app", Command: []string{"sleep", "3600"},
		ReadinessProbe: &corev1.Probe{PeriodSeconds: 1, ProbeHandler: corev1.ProbeHandler{Exec: &corev1.ExecAction{
			Command: []string{"sh", "-c", "test \"$(hostname)\" = exec && grep -q 10.96.0.10 /etc/resolv.conf"}}}},
		LivenessProbe: &corev1.Probe{PeriodSeconds: 1, FailureThreshold: 1, ProbeHandler: corev1.ProbeHandler{Exec: &corev1.ExecAction{
			Command: []string{"sh", "-c", "test \"$(hostname)\" = exec"}}}},
	})
	e.create(ex)
	bad := e.pod("exec-fails", corev1.Container{Name: "app", Command: []string{"sleep", "3600"},
		LivenessProbe: &corev1.Probe{PeriodSeconds: 1, FailureThreshold: 1, ProbeHandler: corev1.ProbeHandler{Exec: &corev1.ExecAction{
			Command: []string{"sh", "-c", "exit 1"}}}},
	})
	bad.Spec.TerminationGracePeriodSeconds = new(int64(1))
	e.create(bad)

	p := e.waitPod("hostnet", 15*time.Second, "running and ready", runningReady)
	if p.Status.PodIP != "127.0.0.1" {
		t.Errorf("hostNetwork pod IP %q, want the node's", p.Status.PodIP)
	}
	if code, body, err := httpGet(fmt.Sprintf("http://127.0.0.1:%d/", port)); err != nil || code != 200 {
		t.Errorf("hostNetwork server: %d %q %v", code, body, err)
	}
	e.waitPod("exec", 15*time.Second, "ready by its exec probe", runningReady)
	e.waitPod("exec-fails", 15*time.Second, "restarted by its exec liveness probe", func(p *corev1.Pod) error {
		if cs := p.Status.ContainerStatuses; len(cs) != 1 || cs[0].RestartCount < 1 {
			return fmt.Errorf("%s", describeContainers(p))
		}
		return nil
	})
	if p := e.get("exec"); p.Status.ContainerStatuses[0].RestartCount != 0 {
		t.Errorf("the exec probe that passes restarted its container: %s", describeContainers(p))
	}
	p = e.waitPod("env", 15*time.Second, "running", runningReady)
	var log string
	testenv.Eventually(t, 5*time.Second, "env's output", func() error {
		var err error
		log, err = e.logs("env", "app", "")
		if err == nil && !strings.Contains(log, "nameserver") {
			err = fmt.Errorf("log %q", log)
		}
		return err
	})
	kube, err := e.cs.CoreV1().Services("default").Get(t.Context(), "kubernetes", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("hi %s env %s env fast s3cret %s:%d\nenv\nsearch default.svc.cluster.local svc.cluster.local cluster.local\nnameserver 10.96.0.10\noptions ndots:5\n",
		p.Status.PodIP, e.node, kube.Spec.ClusterIP, kube.Spec.Ports[0].Port)
	if log != want {
		t.Errorf("env's output\n%q\nwant\n%q", log, want)
	}
}
