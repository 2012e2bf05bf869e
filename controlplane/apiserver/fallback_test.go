package apiserver_test

import (
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/shoalmesh/shoal/cluster/clustertest"
	"github.com/shoalmesh/shoal/controlplane/registry"
	"github.com/shoalmesh/shoal/controlplane/store/storetest"
	"github.com/shoalmesh/shoal/internal/testenv"
)

// With etcd gone, reads of cached resources keep being answered from the
// last good view, with a warning that says so.
func TestReadsServedFromCacheWhileEtcdIsAway(t *testing.T) {
	e := storetest.StartEtcd(t)
	a := startAPI(t, clustertest.Options{EtcdServers: []string{e.ClientURL}})
	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Port: 80}}}}
	created, err := a.cs.CoreV1().Services("default").Create(t.Context(), svc, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	services := a.shoal.Caches.For(registry.Services.Resource)
	testenv.Eventually(t, 10*time.Second, "services cache has web", func() error {
		if _, ok := services.Get("default", "web"); !ok {
			return errors.New("not yet")
		}
		return nil
	})
	e.Stop()

	var wg sync.WaitGroup
	replies := map[string]reply{}
	var mu sync.Mutex
	for _, path := range []string{"/api/v1/namespaces/default/services/web", "/api/v1/namespaces/default/services"} {
		wg.Go(func() {
			r := a.do(http.MethodGet, path, "")
			mu.Lock()
			replies[path] = r
			mu.Unlock()
		})
	}
	wg.Wait()
	for path, r := range replies {
		r.must(t, http.StatusOK)
		if w := r.header.Get("Warning"); !strings.Contains(w, "etcd is unreachable") {
			t.Errorf("GET %s: Warning %q, want one saying etcd is unreachable", path, w)
		}
		if !strings.Contains(string(r.body), `"uid":"`+string(created.UID)+`"`) {
			t.Errorf("GET %s: the cached service is not in the answer: %s", path, r.body)
		}
	}
}
