package e2e

import (
	"fmt"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/shoalmesh/shoal/internal/testenv"
	"github.com/shoalmesh/shoal/nodeagent"
	"github.com/shoalmesh/shoal/test/imagetest"
)

// initPodsManifest: a pod whose init container takes a while, one whose
// init container fails and is retried, one whose init container fails for
// good, and one whose image tag does not exist.
func initPodsManifest(registry string) string {
	return fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata: {name: init-slow}
spec:
  initContainers: [{name: wait, image: %[1]s/busybox:1, command: [sleep, "4"]}]
  containers: [{name: main, image: %[1]s/busybox:1, command: [sleep, "3600"]}]
---
apiVersion: v1
kind: Pod
metadata: {name: init-loop}
spec:
  initContainers: [{name: fail, image: %[1]s/busybox:1, command: [sh, -c, "exit 2"]}]
  containers: [{name: main, image: %[1]s/busybox:1, command: [sleep, "3600"]}]
---
apiVersion: v1
kind: Pod
metadata: {name: init-error}
spec:
  restartPolicy: Never
  initContainers: [{name: fail, image: %[1]s/busybox:1, command: [sh, -c, "exit 2"]}]
  containers: [{name: main, image: %[1]s/busybox:1, command: [sleep, "3600"]}]
---
apiVersion: v1
kind: Pod
metadata: {name: no-such-tag}
spec:
  containers: [{name: main, image: %[1]s/busybox:no-such-tag}]
`, registry)
}

// testUpImages runs `shoal up` as root with a registry on loopback and a
// registries.yaml naming it docker.io's mirror: `kubectl create
// deployment` of an image from it runs and is Ready; `kubectl set image`
// under constant load through the ClusterIP fails no request; `kubectl
// rollout undo` returns to the old image; docker.io/library/<name> runs
// from the mirror; kubectl get pods prints Init:0/1, Init:CrashLoopBackOff,
// Init:Error, ErrImagePull and ImagePullBackOff as the kubelet's would make
// it print; kubectl exec, cp, attach and port-forward reach its pods (see
// checkStreams). A clean stop leaves nothing behind.
func testUpImages(t *testing.T, bin string) {
	testenv.RequireOK(t, testenv.Root, nodeagent.Preflight(""))
	testenv.Require(t, testenv.Registry, testenv.Busybox)
	kubectlBin := lookPath(t, testenv.Kubectl, "kubectl")
	reg := imagetest.StartRegistry(t, imagetest.RegistryOptions{})
	one := reg.Push(t, imagetest.EchoServer(t), "echoserver:1")
	two, err := mutate.Config(imagetest.EchoServer(t), configWithEnv(t, "GENERATION=2"))
	if err != nil {
		t.Fatal(err)
	}
	v2 := reg.Push(t, two, "echoserver:2")
	reg.Push(t, imagetest.Busybox(t), "busybox:1")
	reg.Push(t, imagetest.EchoServer(t), "library/echoserver:1") // what docker.io/library/echoserver:1 is on the mirror

	p, dir, k := upWithMirror(t, bin, kubectlBin, reg)
	cs := p.clientset(t)
	ctx := t.Context()

	start := time.Now()
	k.ok(t, "create", "deployment", "web", "--image="+one, "--replicas=3", "--port=8080")
	k.ok(t, "rollout", "status", "deployment/web", "--timeout=60s")
	pods := waitReadyPods(t, cs, "default", "app=web", 3)
	t.Logf("kubectl create deployment of a registry image: 3 pods Running and Ready %v later", time.Since(start).Round(time.Millisecond))
	k.ok(t, "expose", "deployment", "web", "--port=80", "--target-port=8080")
	svc, err := cs.CoreV1().Services("default").Get(ctx, "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	vip := netip.AddrPortFrom(netip.MustParseAddr(svc.Spec.ClusterIP), 80).String()
	testenv.Eventually(t, 20*time.Second, "the Service answers through the node proxy", func() error {
		resp, err := (&http.Client{Timeout: 2 * time.Second}).Get("http://" + vip + "/")
		if err == nil {
			resp.Body.Close()
		}
		return err
	})
	if out, _ := k.ok(t, "logs", pods[0].Name); !strings.Contains(out, "echoserver: listening on :8080") {
		t.Errorf("kubectl logs %s: %q", pods[0].Name, out)
	}

	// A graceful rollout: readiness from the probe, and a preStop pause so
	// that the endpoints drop a pod before it gets SIGTERM.
	k.ok(t, "patch", "deployment", "web", "--type=strategic", "-p",
		`{"spec":{"template":{"spec":{"terminationGracePeriodSeconds":10,"containers":[{"name":"echoserver",`+
			`"readinessProbe":{"httpGet":{"path":"/ready","port":8080},"periodSeconds":1},`+
			`"lifecycle":{"preStop":{"sleep":{"seconds":2}}}}]}}}}`)
	k.ok(t, "rollout", "status", "deployment/web", "--timeout=90s")
	waitReadyPods(t, cs, "default", "app=web", 3)

	l := startLoad(vip, 8)
	time.Sleep(time.Second)
	k.ok(t, "set", "image", "deployment/web", "echoserver="+v2)
	k.ok(t, "rollout", "status", "deployment/web", "--timeout=90s")
	waitReadyPods(t, cs, "default", "app=web", 3)
	time.Sleep(time.Second)
	r := l.stop()
	t.Logf("kubectl set image under load: %d requests, %d failed, answered by %d pods", r.total(), r.failed, len(r.byPod))
	if r.failed != 0 {
		t.Errorf("%d of %d requests failed during kubectl set image; first errors: %v", r.failed, r.total(), r.errors)
	}
	checkImages(t, cs, "app=web", v2)
	k.ok(t, "rollout", "undo", "deployment/web")
	k.ok(t, "rollout", "status", "deployment/web", "--timeout=90s")
	undone := waitReadyPods(t, cs, "default", "app=web", 3)
	checkImages(t, cs, "app=web", one)

	// kubectl exec, cp, attach and port-forward into the agent's pods.
	checkStreams(t, k, cs, reg.Host, undone[0].Name)

	// docker.io through the mirror of registries.yaml.
	k.ok(t, "create", "deployment", "mirrored", "--image=docker.io/library/echoserver:1")
	k.ok(t, "rollout", "status", "deployment/mirrored", "--timeout=60s")

	// What kubectl get pods prints comes from the statuses the agent writes.
	k.ok(t, "apply", "-f", k.write(t, "init.yaml", initPodsManifest(reg.Host)))
	sawInit := false
	testenv.Eventually(t, 60*time.Second, "kubectl get pods shows each pod's state", func() error {
		status := map[string]string{}
		table, _ := k.ok(t, "get", "pods", "--no-headers")
		for _, line := range strings.Split(strings.TrimSpace(table), "\n") {
			if f := strings.Fields(line); len(f) >= 3 {
				status[f[0]] = f[2]
			}
		}
		if status["init-slow"] == "Init:0/1" {
			sawInit = true
		}
		var missing []string
		for pod, want := range map[string][]string{
			"init-loop":   {"Init:CrashLoopBackOff"},
			"init-error":  {"Init:Error"},
			"no-such-tag": {"ErrImagePull", "ImagePullBackOff"},
			"init-slow":   {"Running"},
		} {
			if !slices.Contains(want, status[pod]) {
				missing = append(missing, fmt.Sprintf("%s is %q, want %v", pod, status[pod], want))
			}
		}
		if !sawInit {
			missing = append(missing, "init-slow never showed Init:0/1")
		}
		if len(missing) > 0 {
			return fmt.Errorf("%s", strings.Join(missing, "; "))
		}
		return nil
	})
	if out, _, _ := k.run(t, "describe", "pod", "no-such-tag"); !strings.Contains(out, `Failed to pull image "`+reg.Host+`/busybox:no-such-tag"`) || !strings.Contains(out, "not found") {
		t.Errorf("kubectl describe pod no-such-tag lacks the registry's error:\n%s", out)
	}

	p.signal(t, syscall.SIGTERM)
	if code := p.exit(t, exitTimeout); code != 0 {
		t.Errorf("shoal up exited with %d", code)
	}
	if left := nodeLeftovers(dir); len(left) > 0 {
		t.Errorf("shoal up left %v after a clean stop", left)
	}
}

// upWithMirror starts `shoal up --agent=on` (holding agentSlot until the
// test ends) with a registries.yaml naming reg docker.io's mirror, waits
// until it is ready, and returns it, its data dir and a kubectl for it.
// The node is cleaned before and after.
func upWithMirror(t *testing.T, bin, kubectlBin string, reg *imagetest.Registry) (*shoalProc, string, *kubectl) {
	t.Helper()
	agentSlot.Lock()
	t.Cleanup(agentSlot.Unlock)
	if _, err := os.Stat("/sys/class/net/shoal0"); err == nil {
		t.Fatal("an agent with the defaults already runs here (the bridge shoal0 exists), or a crashed one left it")
	}
	dir := t.TempDir()
	cleanNode(t, dir)
	t.Cleanup(func() { cleanNode(t, dir) })
	registries := filepath.Join(dir, "registries.yaml")
	if err := os.WriteFile(registries, []byte("mirrors:\n  docker.io:\n    endpoint: [\"http://"+reg.Host+"\"]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	p := startShoal(t, bin, dir, freeAddrs(t), "--agent=on", "--registries", registries)
	p.waitReady(t)
	return p, dir, &kubectl{bin: kubectlBin, kubeconfig: p.kubeconfig(), cacheDir: filepath.Join(dir, "kubectl-cache"), dir: dir}
}

// configWithEnv is img's config with env added (a new digest).
func configWithEnv(t *testing.T, env ...string) v1.Config {
	t.Helper()
	cf, err := imagetest.EchoServer(t).ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	c := *cf.Config.DeepCopy()
	c.Env = append(c.Env, env...)
	return c
}

// checkImages checks that every pod matching selector runs image.
func checkImages(t *testing.T, cs kubernetes.Interface, selector, image string) {
	t.Helper()
	pods, err := cs.CoreV1().Pods("default").List(t.Context(), metav1.ListOptions{LabelSelector: selector})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range pods.Items {
		if p.DeletionTimestamp == nil && p.Spec.Containers[0].Image != image {
			t.Errorf("pod %s runs %s, want %s", p.Name, p.Spec.Containers[0].Image, image)
		}
	}
}
