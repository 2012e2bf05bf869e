package e2e

import (
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/shoalmesh/shoal/cluster/clustertest"
	"github.com/shoalmesh/shoal/controlplane/controller"
	"github.com/shoalmesh/shoal/controlplane/controllers"
	"github.com/shoalmesh/shoal/controlplane/store/storetest"
	"github.com/shoalmesh/shoal/internal/testenv"
)

// testFailoverOnKill runs two `shoal controlplane` processes on one etcd,
// SIGKILLs the one that leads (no resignation: its lease must expire) and
// checks that the other takes over and reconciles.
func testFailoverOnKill(t *testing.T, bin string) {
	etcd := storetest.StartEtcd(t)
	cli := etcd.Client(t)
	start := func(dir string) (*shoalProc, string) {
		api := testenv.FreeAddr(t)
		p := startProcess(t, bin, "controlplane", "--data-dir", dir, "--api-addr", api, "--xds-addr", testenv.FreeAddr(t), "--etcd-servers", etcd.ClientURL)
		p.dataDir = dir
		p.waitReady(t)
		return p, api
	}
	firstDir := t.TempDir()
	first, firstAPI := start(firstDir)
	secondDir := t.TempDir()
	clustertest.CopyCredentials(t, firstDir, secondDir)
	second, secondAPI := start(secondDir)

	leaderAddr := func() (string, error) {
		id, err := controllers.Leader(t.Context(), cli)
		if err != nil {
			return "", err
		}
		for _, a := range []string{firstAPI, secondAPI} {
			if strings.Contains(id, "_"+a+"_") {
				return a, nil
			}
		}
		return "", fmt.Errorf("leader %q is neither replica", id)
	}
	var leader string
	testenv.Eventually(t, 20*time.Second, "a leader", func() (err error) {
		leader, err = leaderAddr()
		return err
	})
	victim, survivor, survivorAPI := first, second, secondAPI
	if leader == secondAPI {
		victim, survivor, survivorAPI = second, first, firstAPI
	}
	victim.signal(t, syscall.SIGKILL)
	victim.exit(t, exitTimeout)
	killed := time.Now()
	// A generous bound, not a timing assertion: the lease is 5 s.
	testenv.Eventually(t, 30*time.Second, "the survivor to lead", func() error {
		a, err := leaderAddr()
		if err == nil && a != survivorAPI {
			err = fmt.Errorf("leader is still %s", a)
		}
		return err
	})
	t.Logf("survivor led %v after the leader was killed (lease %d s)", time.Since(killed).Round(time.Millisecond), controller.LeaseTTL)

	// The new leader's controllers act.
	cs := survivor.clientset(t)
	one := int32(1)
	labels := map[string]string{"app": "failover"}
	d := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "failover"},
		Spec: appsv1.DeploymentSpec{Replicas: &one, Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Command: []string{"/bin/sleep", "60"}}}}}}}
	if _, err := cs.AppsV1().Deployments("default").Create(t.Context(), d, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 20*time.Second, "a pod of the deployment", func() error {
		pods, err := cs.CoreV1().Pods("default").List(t.Context(), metav1.ListOptions{LabelSelector: "app=failover"})
		if err == nil && len(pods.Items) != 1 {
			err = fmt.Errorf("%d pods", len(pods.Items))
		}
		return err
	})
}
