package e2e

import (
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/shoalmesh/shoal/internal/testenv"
)

// readmeBlock returns the first fenced block of lang that follows marker
// in the README.
func readmeBlock(t *testing.T, marker, lang string) string {
	t.Helper()
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatalf("read README: %v", err)
	}
	s := string(b)
	i := strings.Index(s, marker)
	if i < 0 {
		t.Fatalf("README has no %q", marker)
	}
	s = s[i:]
	start := strings.Index(s, "```"+lang+"\n")
	if start < 0 {
		t.Fatalf("README has no %s block after %q", lang, marker)
	}
	s = s[start+len("```"+lang+"\n"):]
	end := strings.Index(s, "```")
	if end < 0 {
		t.Fatalf("unterminated %s block after %q", lang, marker)
	}
	return s[:end]
}

// The README's example manifest applies as it says, and its Deployment's
// pods come up behind its Service's EndpointSlice once ready.
func TestReadmeExampleManifest(t *testing.T) {
	s, k := startKubectl(t)
	manifest := readmeBlock(t, "where `app.yaml` is any ordinary manifest", "yaml")
	out, _ := k.ok(t, "apply", "-f", k.write(t, "app.yaml", manifest))
	for _, want := range []string{"namespace/shop created", "service/web created", "deployment.apps/web created"} {
		if !strings.Contains(out, want) {
			t.Errorf("apply printed %q, want %q", out, want)
		}
	}
	cs := s.Clientset(t)
	testenv.Eventually(t, 20*time.Second, "3 pods of the README's deployment", func() error {
		pods, err := cs.CoreV1().Pods("shop").List(t.Context(), metav1.ListOptions{LabelSelector: "app=web"})
		if err == nil && len(pods.Items) != 3 {
			return fmt.Errorf("%d pods", len(pods.Items))
		}
		return err
	})
	k.ok(t, "get", "svc,deploy,rs,po,endpointslices", "-o", "wide", "-A")
	k.ok(t, "describe", "svc", "web", "-n", "shop")
}
