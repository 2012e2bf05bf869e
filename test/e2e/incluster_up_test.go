package e2e

import (
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/shoalmesh/shoal/internal/testenv"
	"github.com/shoalmesh/shoal/nodeagent"
	"github.com/shoalmesh/shoal/test/imagetest"
)

// listerForbidden is what the lister prints once its RoleBinding is gone:
// client-go's error from Kubernetes' 403 text.
const listerForbidden = `forbidden: pods is forbidden: User "system:serviceaccount:shop:lister" cannot list resource "pods" in API group "" in the namespace "shop"`

// testUpInCluster runs `shoal up` as root with its agent and a registry on
// loopback as docker.io's mirror, and applies testdata/shop.yaml with the
// real kubectl: Namespace, ServiceAccounts, ConfigMap, Secret, Role,
// RoleBinding, Deployments, Service, HPA and Job apply whole, the pods run
// and are Ready, the Job completes, kubectl get all lists them, and kubectl
// exec sees the env and volume from the ConfigMap and Secret and the
// ServiceAccount's namespace file. The lister pod runs a client-go program
// (test/images/incluster) with rest.InClusterConfig: its projected token
// and ca.crt, KUBERNETES_SERVICE_HOST/PORT and the kubernetes Service's
// ClusterIP through the node proxy let it list its namespace's pods; with
// the RoleBinding deleted it gets Kubernetes' 403, and with it applied
// again it lists them again.
func testUpInCluster(t *testing.T, bin string) {
	testenv.RequireOK(t, testenv.Root, nodeagent.Preflight(""))
	testenv.Require(t, testenv.Registry, testenv.Busybox)
	kubectlBin := lookPath(t, testenv.Kubectl, "kubectl")
	manifest, err := filepath.Abs("testdata/shop.yaml")
	if err != nil {
		t.Fatal(err)
	}
	reg := imagetest.StartRegistry(t, imagetest.RegistryOptions{})
	reg.Push(t, imagetest.Busybox(t), "library/busybox:1")
	reg.Push(t, imagetest.GoProgram(t, "github.com/shoalmesh/shoal/test/images/incluster"), "library/incluster:1")

	p, dir, k := upWithMirror(t, bin, kubectlBin, reg)
	cs := p.clientset(t)

	start := time.Now()
	out, _ := k.ok(t, "apply", "-f", manifest)
	wantKubectlLines(t, out,
		"namespace/shop created",
		"serviceaccount/web created",
		"serviceaccount/lister created",
		"configmap/settings created",
		"secret/db created",
		"role.rbac.authorization.k8s.io/pod-reader created",
		"rolebinding.rbac.authorization.k8s.io/lister-reads-pods created",
		"deployment.apps/web created",
		"deployment.apps/lister created",
		"service/web created",
		"horizontalpodautoscaler.autoscaling/web created",
		"job.batch/migrate created",
	)
	k.ok(t, "rollout", "status", "-n", "shop", "deployment/web", "--timeout=90s")
	k.ok(t, "rollout", "status", "-n", "shop", "deployment/lister", "--timeout=90s")
	web := waitReadyPods(t, cs, "shop", "app=web", 2)
	lister := waitReadyPods(t, cs, "shop", "app=lister", 1)[0].Name
	k.ok(t, "wait", "-n", "shop", "--for=condition=complete", "job/migrate", "--timeout=90s")
	t.Logf("kubectl apply of the manifest: pods Running and Ready and the Job complete %v later", time.Since(start).Round(time.Millisecond))
	if out, _ := k.ok(t, "logs", "-n", "shop", "job/migrate"); out != "migrating with blue\n" {
		t.Errorf("kubectl logs job/migrate: %q", out)
	}

	all, _ := k.ok(t, "get", "all", "-n", "shop")
	for _, want := range []string{
		"pod/" + web[0].Name, "pod/" + web[1].Name, "pod/" + lister, "pod/migrate-",
		"service/web", "deployment.apps/web", "deployment.apps/lister", "replicaset.apps/web-",
		"replicaset.apps/lister-", "horizontalpodautoscaler.autoscaling/web", "job.batch/migrate",
	} {
		if !strings.Contains(all, want) {
			t.Errorf("kubectl get all -n shop lacks %s:\n%s", want, all)
		}
	}

	// The env from the ConfigMap (a key and envFrom with a prefix) and the
	// Secret, the ConfigMap's volume, the ServiceAccount's namespace file.
	// In-cluster clients reach the API server at the kubernetes Service's
	// ClusterIP, through the node proxy.
	api := getService(t, cs, "default", "kubernetes")
	got, _ := k.ok(t, "exec", "-n", "shop", web[0].Name, "--", "sh", "-c",
		`echo "$COLOR $DB_PASSWORD $CFG_color $(cat /etc/settings/color) $(cat /var/run/secrets/kubernetes.io/serviceaccount/namespace)"; cat /etc/settings/app.properties; echo "$KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT"`)
	if want := fmt.Sprintf("blue s3cr3t blue blue shop\nmode=fast\n%s:%d\n", api.Spec.ClusterIP, api.Spec.Ports[0].Port); got != want {
		t.Errorf("kubectl exec %s: env and files\n%q, want\n%q", web[0].Name, got, want)
	}

	// From inside the lister pod: allowed, forbidden, allowed again.
	lastLine := func() string {
		out, _ := k.ok(t, "logs", "-n", "shop", lister, "--tail=1")
		return strings.TrimSpace(out)
	}
	listing := func() error {
		line := lastLine()
		n, err := strconv.Atoi(strings.TrimPrefix(line, "ok "))
		if !strings.HasPrefix(line, "ok ") || err != nil || n < 4 { // web ×2, lister, migrate
			return fmt.Errorf("the lister's last line is %q, want ok and at least 4 pods", line)
		}
		return nil
	}
	defer func() {
		if t.Failed() {
			out, _, _ := k.run(t, "logs", "-n", "shop", lister, "--tail=20")
			t.Logf("the lister's last lines:\n%s", out)
		}
	}()
	testenv.Eventually(t, 30*time.Second, "the lister lists its namespace's pods", listing)
	deleted := time.Now()
	k.ok(t, "delete", "rolebinding", "-n", "shop", "lister-reads-pods")
	testenv.Eventually(t, 30*time.Second, "the lister is forbidden without its RoleBinding", func() error {
		if line := lastLine(); line != listerForbidden {
			return fmt.Errorf("the lister's last line is %q, want %q", line, listerForbidden)
		}
		return nil
	})
	t.Logf("the lister was forbidden %v after kubectl delete rolebinding", time.Since(deleted).Round(time.Millisecond))
	out, _ = k.ok(t, "apply", "-f", manifest)
	for _, want := range []string{"rolebinding.rbac.authorization.k8s.io/lister-reads-pods created", "deployment.apps/web unchanged"} {
		if !strings.Contains(out, want) {
			t.Errorf("kubectl apply again printed %q, want %q in it", out, want)
		}
	}
	testenv.Eventually(t, 30*time.Second, "the lister lists again with its RoleBinding back", listing)

	p.signal(t, syscall.SIGTERM)
	if code := p.exit(t, exitTimeout); code != 0 {
		t.Errorf("shoal up exited with %d", code)
	}
	if left := nodeLeftovers(dir); len(left) > 0 {
		t.Errorf("shoal up left %v after a clean stop", left)
	}
}
