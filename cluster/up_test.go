package cluster_test

import (
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/shoalmesh/shoal/cluster/clustertest"
)

func TestUpServesTheKubernetesService(t *testing.T) {
	s := clustertest.Start(t, clustertest.Options{})
	cs := s.Clientset(t)
	svc, err := cs.CoreV1().Services("default").Get(t.Context(), "kubernetes", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("get kubernetes service: %v", err)
	}
	if svc.Spec.ClusterIP != "10.96.0.1" || svc.Spec.Ports[0].Port != 443 {
		t.Fatalf("kubernetes service = %s:%d, want 10.96.0.1:443", svc.Spec.ClusterIP, svc.Spec.Ports[0].Port)
	}
}
