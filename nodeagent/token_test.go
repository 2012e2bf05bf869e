package nodeagent_test

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	authnv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/shoalmesh/shoal/cluster/clustertest"
	"github.com/shoalmesh/shoal/controlplane/auth"
	"github.com/shoalmesh/shoal/internal/testenv"
	"github.com/shoalmesh/shoal/nodeagent"
)

// A pod's kube-api-access volume (which ServiceAccount admission adds)
// gets, with the node's own credentials, a token of the pod's
// ServiceAccount bound to the pod, the cluster CA and the namespace: the
// token authenticates as the account. Another node's pod gets none.
func TestKubeAPIAccessVolume(t *testing.T) {
	shoalDir := t.TempDir()
	tokens, err := auth.LoadOrCreateTokens(filepath.Join(shoalDir, "tokens.csv"))
	if err != nil {
		t.Fatal(err)
	}
	nodeToken, err := tokens.Add(auth.NodeUser("node-1"), []string{auth.GroupNodes})
	if err != nil {
		t.Fatal(err)
	}
	s := clustertest.Start(t, clustertest.Options{DataDir: shoalDir})
	admin := s.Clientset(t)
	ctx := t.Context()
	if _, err := admin.CoreV1().ServiceAccounts("default").Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "app"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	create := func(name, node string) *corev1.Pod {
		p, err := admin.CoreV1().Pods("default").Create(ctx, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name},
			Spec: corev1.PodSpec{NodeName: node, ServiceAccountName: "app", Containers: []corev1.Container{{Name: "c", Image: "busybox"}}}}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	pod := create("mine", "node-1")
	var vol string
	for _, v := range pod.Spec.Volumes {
		if v.Projected != nil {
			vol = v.Name
		}
	}
	if vol == "" {
		t.Fatalf("admission added no projected volume: %+v", pod.Spec.Volumes)
	}
	rc := s.RESTConfig(t)
	nodeClient := kubernetes.NewForConfigOrDie(&rest.Config{Host: rc.Host, BearerToken: nodeToken, TLSClientConfig: rest.TLSClientConfig{CAFile: rc.CAFile, CAData: rc.CAData}})

	var paths map[string]string
	testenv.Eventually(t, 10*time.Second, "the volume written (the root CA ConfigMap published)", func() error {
		paths, err = nodeagent.WriteVolumeContents(ctx, nodeClient, "node-1", pod, t.TempDir())
		return err
	})
	read := func(name string) string {
		b, err := os.ReadFile(filepath.Join(paths[vol], name))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	if ns := read("namespace"); ns != "default" {
		t.Errorf("namespace %q", ns)
	}
	if ca := read("ca.crt"); len(ca) < 100 {
		t.Errorf("ca.crt %q", ca)
	}
	tokenClient := kubernetes.NewForConfigOrDie(&rest.Config{Host: rc.Host, BearerToken: read("token"), TLSClientConfig: rest.TLSClientConfig{CAFile: rc.CAFile, CAData: rc.CAData}})
	rev, err := tokenClient.AuthenticationV1().SelfSubjectReviews().Create(ctx, &authnv1.SelfSubjectReview{}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("the projected token: %v", err)
	}
	if u := rev.Status.UserInfo; u.Username != "system:serviceaccount:default:app" {
		t.Errorf("the projected token is %+v", u)
	}

	theirs := create("theirs", "node-2")
	if _, err := nodeagent.WriteVolumeContents(ctx, nodeClient, "node-1", theirs, t.TempDir()); err == nil {
		t.Error("node-1 got a token for node-2's pod")
	}
}
