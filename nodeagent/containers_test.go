package nodeagent_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/shoalmesh/shoal/internal/testenv"
)

// Two containers share an emptyDir and the pod's network: one writes a
// page, the other (busybox httpd) serves it; a memory emptyDir is a tmpfs
// of its sizeLimit; an init container must finish before them.
func TestPodSharesVolumesAfterInit(t *testing.T) {
	e := newTestEnv(t)
	p := e.pod("shared",
		corev1.Container{Name: "writer", Image: e.box, Command: []string{"sh", "-c", "cat /work/from-init > /www/index.html; echo written; sleep 3600"},
			VolumeMounts: []corev1.VolumeMount{{Name: "www", MountPath: "/www"}, {Name: "work", MountPath: "/work"}}},
		corev1.Container{Name: "server", Image: e.box, Command: []string{"httpd", "-f", "-p", "8080", "-h", "/www"},
			VolumeMounts: []corev1.VolumeMount{{Name: "www", MountPath: "/www", ReadOnly: true}, {Name: "cache", MountPath: "/cache"}},
			Ports:        []corev1.ContainerPort{{ContainerPort: 8080}}},
	)
	p.Spec.InitContainers = []corev1.Container{
		{Name: "slow-init", Image: e.box, Command: []string{"sh", "-c", "sleep 2; echo hello from init > /work/from-init"},
			VolumeMounts: []corev1.VolumeMount{{Name: "work", MountPath: "/work"}}},
	}
	size := resource.MustParse("16Mi")
	p.Spec.Volumes = []corev1.Volume{
		{Name: "www", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
		{Name: "work", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
		{Name: "cache", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{Medium: corev1.StorageMediumMemory, SizeLimit: &size}}},
	}
	e.create(p)
	sawInit := false
	got := e.waitPod("shared", 30*time.Second, "initialized, then running", func(p *corev1.Pod) error {
		if is := p.Status.InitContainerStatuses; len(is) == 1 && is[0].State.Running != nil {
			sawInit = true
			if c := podCondition(p, corev1.PodInitialized); c == nil || c.Status != corev1.ConditionFalse || p.Status.Phase != corev1.PodPending {
				return fmt.Errorf("while the init container runs: Initialized %+v, phase %s", c, p.Status.Phase)
			}
			for _, cs := range p.Status.ContainerStatuses {
				if cs.State.Waiting == nil || cs.State.Waiting.Reason != "PodInitializing" {
					return fmt.Errorf("app container %s while initializing: %s", cs.Name, stateString(cs.State))
				}
			}
		}
		return runningReady(p)
	})
	if !sawInit {
		t.Error("never saw the init container running")
	}
	is := got.Status.InitContainerStatuses
	if len(is) != 1 || is[0].State.Terminated == nil || is[0].State.Terminated.ExitCode != 0 || is[0].State.Terminated.Reason != "Completed" || !is[0].Ready {
		t.Errorf("init container status %+v", is)
	}
	for _, cs := range got.Status.ContainerStatuses {
		if cs.RestartCount != 0 {
			t.Errorf("container %s restarted (it ran before the init container finished?): %s", cs.Name, describeContainers(got))
		}
	}
	testenv.Eventually(t, 10*time.Second, "the page served", func() error {
		body, err := podHTTP(got, "/index.html")
		if err == nil && body != "hello from init\n" {
			err = fmt.Errorf("body %q", body)
		}
		return err
	})
	out, _ := e.exec(got, "server", "sh", "-c", "grep ' /cache ' /proc/mounts")
	if !strings.Contains(out, "tmpfs") || !strings.Contains(out, "size=16384k") {
		t.Errorf("the memory emptyDir: %q; want a tmpfs of 16Mi", out)
	}
	if _, code := e.exec(got, "server", "touch", "/www/x"); code == 0 {
		t.Error("the read-only mount of the shared volume is writable")
	}
	if out, _ := e.exec(got, "server", "hostname"); out != "shared\n" {
		t.Errorf("hostname %q", out)
	}
}

// Init containers that fail: restarted with back-off (Init:CrashLoopBackOff,
// as kubectl prints it) while the pod restarts; the pod fails when it
// never restarts (Init:Error).
func TestInitContainerFailures(t *testing.T) {
	e := newTestEnv(t)
	failing := func(name string, policy corev1.RestartPolicy) *corev1.Pod {
		p := e.pod(name, corev1.Container{Name: "app", Image: e.box, Command: []string{"sleep", "3600"}})
		p.Spec.RestartPolicy = policy
		p.Spec.InitContainers = []corev1.Container{
			{Name: "ok", Image: e.box, Command: []string{"true"}},
			{Name: "fails", Image: e.box, Command: []string{"sh", "-c", "exit 3"}},
		}
		return p
	}
	e.create(failing("loops", corev1.RestartPolicyAlways))
	e.create(failing("fails", corev1.RestartPolicyNever))
	e.waitPod("loops", 30*time.Second, "Init:CrashLoopBackOff", func(p *corev1.Pod) error {
		is := p.Status.InitContainerStatuses
		if len(is) != 2 || is[0].State.Terminated == nil || is[1].State.Waiting == nil || is[1].State.Waiting.Reason != "CrashLoopBackOff" ||
			is[1].RestartCount < 1 || is[1].LastTerminationState.Terminated == nil || is[1].LastTerminationState.Terminated.ExitCode != 3 {
			return fmt.Errorf("init statuses %+v", is)
		}
		if p.Status.Phase != corev1.PodPending || p.Status.ContainerStatuses[0].State.Waiting == nil {
			return fmt.Errorf("phase %s, app %s", p.Status.Phase, describeContainers(p))
		}
		return nil
	})
	e.waitPod("fails", 30*time.Second, "Failed with Init:Error", func(p *corev1.Pod) error {
		is := p.Status.InitContainerStatuses
		if p.Status.Phase != corev1.PodFailed || len(is) != 2 || is[1].State.Terminated == nil || is[1].State.Terminated.Reason != "Error" || is[1].RestartCount != 0 {
			return fmt.Errorf("phase %s, init statuses %+v", p.Status.Phase, is)
		}
		return nil
	})
	if left := e.podLeft(string(e.get("fails").UID), "fails"); strings.Contains(strings.Join(left, " "), "sandbox") {
		t.Errorf("a failed pod keeps %v", left)
	}
}

// securityContext: runAsUser and runAsGroup, a read-only root file system
// with a writable emptyDir, dropped capabilities, runAsNonRoot refused for
// an image that runs as root, with the kubelet's words.
func TestSecurityContext(t *testing.T) {
	e := newTestEnv(t)
	p := e.pod("locked", corev1.Container{Name: "app", Image: e.box, Command: []string{"sleep", "3600"},
		VolumeMounts: []corev1.VolumeMount{{Name: "tmp", MountPath: "/scratch"}},
		SecurityContext: &corev1.SecurityContext{
			RunAsUser: new(int64(1000)), RunAsGroup: new(int64(3000)), ReadOnlyRootFilesystem: new(true),
			AllowPrivilegeEscalation: new(false), Capabilities: &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
		}})
	p.Spec.SecurityContext = &corev1.PodSecurityContext{FSGroup: new(int64(2000)), SupplementalGroups: []int64{4000}}
	p.Spec.Volumes = []corev1.Volume{{Name: "tmp", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}}
	nonRoot := e.pod("non-root", corev1.Container{Name: "app", Image: e.box, Command: []string{"sleep", "3600"},
		SecurityContext: &corev1.SecurityContext{RunAsNonRoot: new(true)}})
	e.create(p)
	e.create(nonRoot)
	got := e.waitPod("locked", 20*time.Second, "running", runningReady)
	for cmd, want := range map[string]string{"id -u": "1000\n", "id -g": "3000\n", "grep CapEff /proc/self/status": "CapEff:\t0000000000000000\n"} {
		if out, code := e.exec(got, "app", "sh", "-c", cmd); out != want || code != 0 {
			t.Errorf("%s: %q (exit %d), want %q", cmd, out, code, want)
		}
	}
	if out, _ := e.exec(got, "app", "id", "-G"); !strings.Contains(out, "2000") || !strings.Contains(out, "4000") {
		t.Errorf("groups %q, want the fsGroup 2000 and the supplemental 4000", out)
	}
	if out, code := e.exec(got, "app", "touch", "/newfile"); code == 0 || !strings.Contains(out, "Read-only file system") {
		t.Errorf("a write to the read-only root: %q (exit %d)", out, code)
	}
	if out, code := e.exec(got, "app", "touch", "/scratch/file"); code != 0 {
		t.Errorf("a write to the fsGroup emptyDir: %q (exit %d)", out, code)
	}
	e.waitPod("non-root", 20*time.Second, "refused", waitingWith("CreateContainerConfigError", "container has runAsNonRoot and image will run as root"))
}

// Lifecycle hooks: postStart runs before the container counts as started,
// preStop before SIGTERM when the pod is deleted; a postStart that fails
// kills the container.
func TestLifecycleHooks(t *testing.T) {
	e := newTestEnv(t)
	dir := t.TempDir()
	hostDir := corev1.HostPathDirectory
	p := e.pod("hooks", corev1.Container{Name: "app", Image: e.box,
		Command:      []string{"sh", "-c", "trap 'echo term >> /out/log; exit 0' TERM; while true; do sleep 0.1; done"},
		VolumeMounts: []corev1.VolumeMount{{Name: "out", MountPath: "/out"}},
		Lifecycle: &corev1.Lifecycle{
			PostStart: &corev1.LifecycleHandler{Exec: &corev1.ExecAction{Command: []string{"sh", "-c", "echo postStart >> /out/log"}}},
			PreStop:   &corev1.LifecycleHandler{Exec: &corev1.ExecAction{Command: []string{"sh", "-c", "echo preStop >> /out/log"}}},
		}})
	p.Spec.Volumes = []corev1.Volume{{Name: "out", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: dir, Type: &hostDir}}}}
	e.create(p)
	bad := e.pod("bad-hook", corev1.Container{Name: "app", Image: e.box, Command: []string{"sleep", "3600"},
		Lifecycle: &corev1.Lifecycle{PostStart: &corev1.LifecycleHandler{Exec: &corev1.ExecAction{Command: []string{"sh", "-c", "exit 7"}}}}})
	bad.Spec.TerminationGracePeriodSeconds = new(int64(1))
	e.create(bad)
	e.waitPod("hooks", 20*time.Second, "running", runningReady)
	if err := e.cs.CoreV1().Pods("default").Delete(t.Context(), "hooks", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 20*time.Second, "the pod gone", func() error {
		if _, err := e.cs.CoreV1().Pods("default").Get(t.Context(), "hooks", metav1.GetOptions{}); err == nil {
			return fmt.Errorf("still there")
		}
		return nil
	})
	if b, _ := os.ReadFile(filepath.Join(dir, "log")); string(b) != "postStart\npreStop\nterm\n" {
		t.Errorf("the hooks and the signal wrote %q, want postStart, preStop, term in that order", b)
	}
	e.waitPod("bad-hook", 30*time.Second, "killed by its postStart hook", func(p *corev1.Pod) error {
		cs := p.Status.ContainerStatuses
		if len(cs) != 1 || cs[0].RestartCount < 1 || cs[0].LastTerminationState.Terminated == nil ||
			!strings.Contains(cs[0].LastTerminationState.Terminated.Message, "PostStartHookError") {
			return fmt.Errorf("%s", describeContainers(p))
		}
		return nil
	})
}
