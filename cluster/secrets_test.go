package cluster_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	authnv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/shoalmesh/shoal/cluster"
	"github.com/shoalmesh/shoal/cluster/clustertest"
	"github.com/shoalmesh/shoal/controlplane/encryption"
	"github.com/shoalmesh/shoal/controlplane/store/storetest"
	"github.com/shoalmesh/shoal/internal/testenv"
)

// TestReplicasShareKeys: two `shoal controlplane` replicas with the same
// pki/ read each other's Secrets and accept each other's tokens; a third
// with a key of its own refuses to start instead of writing Secrets the
// others cannot read.
func TestReplicasShareKeys(t *testing.T) {
	etcd := storetest.StartEtcd(t)
	servers := []string{etcd.ClientURL}
	first := clustertest.StartControlPlane(t, clustertest.Options{EtcdServers: servers})
	dir := t.TempDir()
	clustertest.CopyCredentials(t, first.DataDir, dir)
	second := clustertest.StartControlPlane(t, clustertest.Options{EtcdServers: servers, DataDir: dir})
	ctx := t.Context()
	a, b := first.Clientset(t), second.Clientset(t)

	sec := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "db"}, StringData: map[string]string{"password": "shared"}}
	if _, err := a.CoreV1().Secrets("default").Create(ctx, sec, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	got, err := b.CoreV1().Secrets("default").Get(ctx, "db", metav1.GetOptions{})
	if err != nil || string(got.Data["password"]) != "shared" {
		t.Fatalf("the other replica reads %v, %v", got, err)
	}

	testenv.Eventually(t, 20*time.Second, "the default service account", func() error {
		_, err := a.CoreV1().ServiceAccounts("default").Get(ctx, "default", metav1.GetOptions{})
		return err
	})
	tr, err := a.CoreV1().ServiceAccounts("default").CreateToken(ctx, "default", &authnv1.TokenRequest{}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cfg := second.RESTConfig(t)
	cfg.BearerToken = tr.Status.Token
	var review *authnv1.SelfSubjectReview
	testenv.Eventually(t, 10*time.Second, "the other replica accepts the token", func() error {
		cs, err := kubernetes.NewForConfig(cfg)
		if err != nil {
			return err
		}
		review, err = cs.AuthenticationV1().SelfSubjectReviews().Create(ctx, &authnv1.SelfSubjectReview{}, metav1.CreateOptions{})
		return err
	})
	if review.Status.UserInfo.Username != "system:serviceaccount:default:default" {
		t.Errorf("the other replica sees %+v", review.Status.UserInfo)
	}

	// A replica whose data dir has its own keys (pki/ not copied).
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	_, err = cluster.ControlPlane(runCtx, cluster.Config{DataDir: t.TempDir(), APIAddr: testenv.FreeAddr(t),
		EtcdServers: servers, XDSAddr: testenv.FreeAddr(t)})
	if !errors.Is(err, encryption.ErrKeyMismatch) || !strings.Contains(err.Error(), "same encryption configuration") {
		t.Fatalf("a replica with another encryption key: %v", err)
	}
}
