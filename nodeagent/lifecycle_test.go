package nodeagent_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/watch"

	"github.com/shoalmesh/shoal/internal/testenv"
	"github.com/shoalmesh/shoal/nodeagent"
)

// processAlive reports whether pid runs (and is not a zombie).
func processAlive(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i > 0 && i+2 < len(s) && s[i+2] != 'Z'
}

// podLeft lists what of pod uid is left on the node: its sandbox and
// containers in the runtime, its cgroups, its volumes and logs.
func (e *testEnv) podLeft(uid, name string) []string {
	out := nodeagent.RuntimeLeft(e.agent, types.UID(uid))
	if _, err := os.Stat(filepath.Join(e.cfg.DataDir, "pods", uid)); err == nil {
		out = append(out, "pod dir")
	}
	if _, err := os.Stat(filepath.Join(e.cfg.DataDir, "logs", "default_"+name+"_"+uid)); err == nil {
		out = append(out, "logs")
	}
	for _, cg := range cgroupsBelow(e.cfg.CgroupRoot) {
		if strings.Contains(cg, uid) {
			out = append(out, "cgroup")
			break
		}
	}
	return out
}

func TestDeletePodStopsItNotReadyFirst(t *testing.T) {
	e := newTestEnv(t)
	ctx := t.Context()
	c := e.serverContainer("web", "TERM_DELAY=1500ms")
	c.ReadinessProbe = &corev1.Probe{
		ProbeHandler:  corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/ready", Port: intstr.FromInt32(8080)}},
		PeriodSeconds: 1,
	}
	e.create(e.pod("victim", c))
	p := e.waitPod("victim", 15*time.Second, "running and ready", runningReady)
	uid := string(p.UID)
	pid := e.mainPid(p.UID, "web")
	if pid == 0 {
		t.Fatal("no container process")
	}
	w, err := e.cs.CoreV1().Pods("default").Watch(ctx, metav1.ListOptions{
		FieldSelector: fields.OneTermEqualSelector("metadata.name", "victim").String(), ResourceVersion: p.ResourceVersion})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	if err := e.cs.CoreV1().Pods("default").Delete(ctx, "victim", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	var graceful, notReadyWhileRunning, deleted bool
	timeout := time.After(20 * time.Second)
	for !deleted {
		select {
		case ev, ok := <-w.ResultChan():
			if !ok {
				t.Fatal("watch ended")
			}
			switch ev.Type {
			case watch.Modified:
				q := ev.Object.(*corev1.Pod)
				graceful = graceful || q.DeletionTimestamp != nil
				if !podReady(q) && processAlive(pid) {
					notReadyWhileRunning = true
				}
			case watch.Deleted:
				deleted = true
				if graceful && processAlive(pid) {
					t.Error("the pod was deleted while its container still ran")
				}
			}
		case <-timeout:
			t.Fatal("the pod was not deleted within 20s")
		}
	}
	t.Logf("graceful deletion: %v", graceful)
	if graceful && !notReadyWhileRunning {
		t.Error("the pod was not marked not ready before its container stopped")
	}
	testenv.Eventually(t, 10*time.Second, "the pod's process and everything of it gone", func() error {
		if processAlive(pid) {
			return fmt.Errorf("process %d runs", pid)
		}
		if left := e.podLeft(uid, "victim"); len(left) > 0 {
			return fmt.Errorf("left: %v", left)
		}
		return nil
	})

	t.Run("force-deleted", func(t *testing.T) {
		// It ignores SIGTERM for 1.5 s; a force-deleted pod gets 2 s at most.
		e.create(e.pod("forced", e.serverContainer("web", "TERM_DELAY=1500ms")))
		p := e.waitPod("forced", 15*time.Second, "running", runningReady)
		var pid int
		testenv.Eventually(t, 5*time.Second, "its container", func() error {
			if pid = e.mainPid(p.UID, "web"); pid == 0 {
				return fmt.Errorf("no container process yet")
			}
			return nil
		})
		zero := int64(0)
		if err := e.cs.CoreV1().Pods("default").Delete(ctx, "forced", metav1.DeleteOptions{GracePeriodSeconds: &zero}); err != nil {
			t.Fatal(err)
		}
		testenv.Eventually(t, 10*time.Second, "the force-deleted pod stopped and cleaned up", func() error {
			if processAlive(pid) {
				return fmt.Errorf("process %d runs", pid)
			}
			if left := e.podLeft(string(p.UID), "forced"); len(left) > 0 {
				return fmt.Errorf("left: %v", left)
			}
			return nil
		})
	})
}

func TestRegisterCreatesNodeAndLease(t *testing.T) {
	// With the node's own token the agent creates its Node and Lease.
	e := newTestEnv(t)
	ctx := t.Context()
	n, err := e.cs.CoreV1().Nodes().Get(ctx, e.node, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if n.Spec.PodCIDR != e.cfg.PodCIDR.String() || n.Labels[corev1.LabelHostname] != e.node || n.Labels[corev1.LabelOSStable] != "linux" {
		t.Errorf("node spec %+v, labels %v", n.Spec, n.Labels)
	}
	if c := nodeCondition(n, corev1.NodeReady); c == nil || c.Status != corev1.ConditionTrue {
		t.Errorf("Ready %+v", c)
	}
	testenv.Eventually(t, 5*time.Second, "the lease", func() error {
		l, err := e.cs.CoordinationV1().Leases("kube-node-lease").Get(ctx, e.node, metav1.GetOptions{})
		if err != nil {
			return err
		}
		if l.Spec.HolderIdentity == nil || *l.Spec.HolderIdentity != e.node || l.Annotations["shoal.io/load"] == "" {
			return fmt.Errorf("lease %+v", l)
		}
		return nil
	})
	// A restarted agent adopts the Node; stopping it reports it not ready.
	e.stop()
	if n, err := e.cs.CoreV1().Nodes().Get(ctx, e.node, metav1.GetOptions{}); err != nil || nodeCondition(n, corev1.NodeReady).Status != corev1.ConditionFalse {
		t.Errorf("after a stop: %v, %v", nodeCondition(n, corev1.NodeReady), err)
	}
	e.start()
	n, err = e.cs.CoreV1().Nodes().Get(ctx, e.node, metav1.GetOptions{})
	if err != nil || n.Spec.PodCIDR != e.cfg.PodCIDR.String() || nodeCondition(n, corev1.NodeReady).Status != corev1.ConditionTrue {
		t.Errorf("after a restart: %+v, %v", n, err)
	}
}

// TestPreflight asserts the check that decides whether the agent runs (and
// whether the agent tests run): as root here it must pass, or every agent
// test would skip for a broken check; as another user it must name root.
func TestPreflight(t *testing.T) {
	err := nodeagent.Preflight("")
	if os.Geteuid() != 0 {
		if !errors.Is(err, nodeagent.ErrUnsupported) || !strings.Contains(err.Error(), "root") {
			t.Errorf("Preflight as uid %d: %v", os.Geteuid(), err)
		}
		testenv.Require(t, testenv.Root) // skips, or fails where root is required
		return
	}
	testenv.Require(t, testenv.Root)
	if err != nil {
		t.Fatalf("Preflight as root: %v", err)
	}
}

func keepPods(e *testEnv) { e.cfg.KeepPodsOnStop = true }

// readyWhenServing gives c a readiness probe on its HTTP port.
func readyWhenServing(c corev1.Container) corev1.Container {
	c.ReadinessProbe = &corev1.Probe{
		ProbeHandler:  corev1.ProbeHandler{TCPSocket: &corev1.TCPSocketAction{Port: intstr.FromString("http")}},
		PeriodSeconds: 1,
	}
	return c
}

func TestAgentRestartAdoptsAndCleansUp(t *testing.T) {
	e := newTestEnv(t, keepPods)
	ctx := t.Context()
	e.create(e.pod("stays", readyWhenServing(e.serverContainer("web"))))
	e.create(e.pod("goes", readyWhenServing(e.serverContainer("web"))))
	stays := e.waitPod("stays", 15*time.Second, "running and ready", runningReady)
	goes := e.waitPod("goes", 15*time.Second, "running and ready", runningReady)
	staysPid, goesPid := e.mainPid(stays.UID, "web"), e.mainPid(goes.UID, "web")
	staysID := nodeagent.ContainerID(e.agent, stays.UID, "web")

	e.stop() // keeping the pods
	if !processAlive(staysPid) || !processAlive(goesPid) {
		t.Fatal("a container stopped with the agent that keeps its pods")
	}
	if _, err := podHTTP(stays, "/"); err != nil {
		t.Errorf("pod unreachable while its agent is away: %v", err)
	}
	zero := int64(0)
	if err := e.cs.CoreV1().Pods("default").Delete(ctx, "goes", metav1.DeleteOptions{GracePeriodSeconds: &zero}); err != nil {
		t.Fatal(err)
	}

	e.start()
	testenv.Eventually(t, 5*time.Second, "pod stays adopted", func() error {
		if got := e.mainPid(stays.UID, "web"); got != staysPid {
			return fmt.Errorf("pod stays runs process %d, want %d adopted", got, staysPid)
		}
		return nil
	})
	testenv.Eventually(t, 15*time.Second, "the deleted pod's container stopped and cleaned up", func() error {
		if processAlive(goesPid) {
			return fmt.Errorf("process %d runs", goesPid)
		}
		if left := e.podLeft(string(goes.UID), "goes"); len(left) > 0 {
			return fmt.Errorf("left: %v", left)
		}
		return nil
	})
	// Not run twice: the same container, the only one of the pod, and the
	// same IP.
	if got := nodeagent.ContainerID(e.agent, stays.UID, "web"); got != staysID {
		t.Errorf("pod stays runs container %s, want %s adopted", got, staysID)
	}
	if left := nodeagent.RuntimeLeft(e.agent, stays.UID); len(left) != 2 {
		t.Errorf("pod stays has %v in the runtime, want its sandbox and one container", left)
	}
	p := e.waitPod("stays", 10*time.Second, "running and ready", runningReady)
	if p.Status.PodIP != stays.Status.PodIP || p.Status.ContainerStatuses[0].RestartCount != 0 {
		t.Errorf("after the restart: IP %s (was %s), %s", p.Status.PodIP, stays.Status.PodIP, describeContainers(p))
	}
	if _, err := podHTTP(p, "/"); err != nil {
		t.Error(err)
	}
	// The adopted container is probed and restarted like any.
	if err := syscall.Kill(staysPid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	e.waitPod("stays", 15*time.Second, "restarted", func(p *corev1.Pod) error {
		if cs := p.Status.ContainerStatuses[0]; cs.RestartCount != 1 || runningReady(p) != nil {
			return fmt.Errorf("%s", describeContainers(p))
		}
		return nil
	})

	// Stopping without keeping the pods leaves nothing (checked at cleanup
	// too) and reports the pod not ready.
	e.cfg.KeepPodsOnStop = false
	nodeagent.SetKeepPodsOnStop(e.agent, false)
	e.stop()
	if l := leaks(e.cfg); len(l) > 0 {
		t.Errorf("the stopped agent left %v", l)
	}
	if p := e.get("stays"); podReady(p) {
		t.Errorf("a pod the agent stopped is still ready: %s", describeContainers(p))
	}
}

func TestLogServer(t *testing.T) {
	e := newTestEnv(t)
	e.create(e.pod("talker", readyWhenServing(e.serverContainer("web", "LINES=5", "TICK=200ms"))))
	p := e.waitPod("talker", 15*time.Second, "running and ready", runningReady)
	// The node server serves logs to the API server's client certificate
	// only: not to the node's own token.
	if code, body, err := e.agentGet("/containerLogs/default/talker/web"); err != nil || code != 401 {
		t.Errorf("the node token at the node server: %d %q, %v; want 401", code, body, err)
	}
	// The echoserver logs that it listens, and its lines.
	log, err := e.logs("talker", "web", "")
	if err != nil || !strings.Contains(log, "echoserver: listening on :8080\n") || !strings.Contains(log, "line 1\nline 2\nline 3\nline 4\nline 5\n") {
		t.Errorf("logs: %q, %v", log, err)
	}
	if first, err := e.logs("talker", "web", "?limitBytes=7"); err != nil || len(log) < 7 || first != log[:7] {
		t.Errorf("limitBytes=7: %q, %v; want the first 7 bytes of %q", first, err, log)
	}
	if log, err := e.logs("talker", "web", "?tailLines=2"); err != nil || strings.Count(log, "\n") != 2 {
		t.Errorf("tailLines=2: %q, %v", log, err)
	}
	if log, err := e.logs("talker", "web", "?timestamps=true&limitBytes=100"); err != nil || !strings.Contains(strings.SplitN(log, " ", 2)[0], "T") {
		t.Errorf("timestamps: %q, %v", log, err)
	}
	for query, want := range map[string]int{"?tailLines=-1": 400, "?follow=maybe": 400} {
		code, body, _ := e.apiGet(e.logURL("talker", "web", query))
		if code != want {
			t.Errorf("%s: %d %q, want %d", query, code, body, want)
		}
	}
	if _, err := e.logs("nope", "web", ""); err == nil || !strings.HasPrefix(err.Error(), "404") {
		t.Errorf("logs of a pod that is not here: %v", err)
	}

	// follow streams what comes.
	t.Run("follow", func(t *testing.T) {
		ctx, cancel := contextWithTimeout(t, 5*time.Second)
		defer cancel()
		lines, err := followLines(ctx, e.apiClient(), e.logURL("talker", "web", "?follow=true&tailLines=0"), 2)
		if err != nil || len(lines) != 2 || !strings.HasPrefix(lines[0], "line ") {
			t.Errorf("followed %q, %v", lines, err)
		}
	})

	// previous is the run before a restart.
	t.Run("previous", func(t *testing.T) {
		testenv.Eventually(t, 5*time.Second, "line 6 logged", func() error {
			log, err := e.logs("talker", "web", "")
			if err == nil && !strings.Contains(log, "line 6\n") {
				err = fmt.Errorf("log %q", log)
			}
			return err
		})
		if err := syscall.Kill(e.mainPid(p.UID, "web"), syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		e.waitPod("talker", 15*time.Second, "restarted", func(p *corev1.Pod) error {
			if p.Status.ContainerStatuses[0].RestartCount != 1 || runningReady(p) != nil {
				return fmt.Errorf("%s", describeContainers(p))
			}
			return nil
		})
		prev, err := e.logs("talker", "web", "?previous=true")
		if err != nil || !strings.Contains(prev, "line 1\n") || !strings.Contains(prev, "line 6\n") {
			t.Errorf("previous: %q, %v", prev, err)
		}
	})
}
