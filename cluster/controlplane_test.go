package cluster_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"

	"github.com/shoalmesh/shoal/cluster/clustertest"
	"github.com/shoalmesh/shoal/controlplane/controller"
	"github.com/shoalmesh/shoal/controlplane/controllers"
	"github.com/shoalmesh/shoal/controlplane/store/storetest"
	"github.com/shoalmesh/shoal/internal/testenv"
)

// TestControlPlaneLeaderElection runs two `shoal controlplane` replicas on
// one etcd: one leads and runs the controllers; when it stops, the other
// takes over, and the stopped one leaves the `kubernetes` endpoints.
func TestControlPlaneLeaderElection(t *testing.T) {
	etcd := storetest.StartEtcd(t)
	servers := []string{etcd.ClientURL}
	first := clustertest.StartControlPlane(t, clustertest.Options{EtcdServers: servers})
	dir := t.TempDir()
	clustertest.CopyCredentials(t, first.DataDir, dir)
	second := clustertest.StartControlPlane(t, clustertest.Options{EtcdServers: servers, DataDir: dir})
	replicas := []*clustertest.Shoal{first, second}
	cli := etcd.Client(t)
	ctx := t.Context()

	// leaderOf returns the replica that leads, by the address its id names.
	leaderOf := func() (*clustertest.Shoal, error) {
		id, err := controllers.Leader(ctx, cli)
		if err != nil {
			return nil, err
		}
		for _, r := range replicas {
			if strings.Contains(id, "_"+apiAddr(r)+"_") {
				return r, nil
			}
		}
		return nil, fmt.Errorf("leader is %q, neither replica", id)
	}
	var leader *clustertest.Shoal
	testenv.Eventually(t, 10*time.Second, "a leader", func() (err error) {
		leader, err = leaderOf()
		return err
	})
	standby := replicas[1-slices.Index(replicas, leader)]
	t.Logf("leader %s, standby %s", apiAddr(leader), apiAddr(standby))

	// Both API servers serve and are in the kubernetes endpoints; the
	// leader's controllers act on what either one is told.
	cs := standby.Clientset(t)
	waitAPIServers(t, cs, apiAddr(first), apiAddr(second))
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "web"},
		Spec: appsv1.DeploymentSpec{
			Replicas: new(int32(2)),
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web"}},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "web", Command: []string{"/bin/sleep", "3600"}}}},
			},
		},
	}
	if _, err := cs.AppsV1().Deployments("default").Create(ctx, d, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create deployment: %v", err)
	}
	waitPods(t, cs, "app=web", 2)

	// The leader stops (resigning); the standby takes over within about a
	// lease and reconciles.
	leader.Stop()
	testenv.Eventually(t, (controller.LeaseTTL+10)*time.Second, "the standby leads", func() error {
		r, err := leaderOf()
		if err != nil {
			return err
		}
		if r != standby {
			return fmt.Errorf("%s still leads", apiAddr(r))
		}
		return nil
	})
	// As kubectl scale does it.
	patch := []byte(`{"spec":{"replicas":4}}`)
	if _, err := cs.AppsV1().Deployments("default").Patch(ctx, "web", types.MergePatchType, patch, metav1.PatchOptions{}, "scale"); err != nil {
		t.Fatalf("scale: %v", err)
	}
	waitPods(t, cs, "app=web", 4)
	waitAPIServers(t, cs, apiAddr(standby))
}

// apiAddr is the host:port a replica's API server is advertised at.
func apiAddr(s *clustertest.Shoal) string { return strings.TrimPrefix(s.APIURL, "https://") }

// waitPods waits until exactly n pods match selector, each controlled by a
// ReplicaSet.
func waitPods(t *testing.T, cs kubernetes.Interface, selector string, n int) {
	t.Helper()
	testenv.Eventually(t, 20*time.Second, fmt.Sprintf("%d pods %s", n, selector), func() error {
		l, err := cs.CoreV1().Pods("default").List(t.Context(), metav1.ListOptions{LabelSelector: selector})
		if err != nil {
			return err
		}
		for _, p := range l.Items {
			if ref := metav1.GetControllerOf(&p); ref == nil || ref.Kind != "ReplicaSet" {
				return fmt.Errorf("pod %s has no ReplicaSet controller", p.Name)
			}
		}
		if len(l.Items) != n {
			return fmt.Errorf("%d pods", len(l.Items))
		}
		return nil
	})
}

// waitAPIServers waits until the `kubernetes` Endpoints list exactly the API
// servers at addrs.
func waitAPIServers(t *testing.T, cs kubernetes.Interface, addrs ...string) {
	t.Helper()
	waitEndpoints(t, cs, "default", "kubernetes", "https", addrs...)
}

// waitEndpoints waits until the Endpoints ns/name list exactly addrs on
// their port named port.
func waitEndpoints(t *testing.T, cs kubernetes.Interface, ns, name, port string, addrs ...string) {
	t.Helper()
	testenv.Eventually(t, 20*time.Second, fmt.Sprintf("%s endpoints %v", name, addrs), func() error {
		ep, err := cs.CoreV1().Endpoints(ns).Get(t.Context(), name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		var got []string
		for _, ss := range ep.Subsets {
			for _, a := range ss.Addresses {
				for _, p := range ss.Ports {
					if p.Name == port {
						got = append(got, fmt.Sprintf("%s:%d", a.IP, p.Port))
					}
				}
			}
		}
		slices.Sort(got)
		want := slices.Sorted(slices.Values(addrs))
		if !slices.Equal(got, want) {
			return fmt.Errorf("endpoints %v", got)
		}
		return nil
	})
}
