package apiserver_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/shoalmesh/shoal/cluster/clustertest"
)

// bindPod creates a pod with no scheduler and binds it to node.
func (a *api) bindPod(name, node string, grace int) {
	a.t.Helper()
	const pods = "/api/v1/namespaces/default/pods"
	a.do("POST", pods, fmt.Sprintf(`{"metadata":{"name":%q},"spec":{"schedulerName":"none","terminationGracePeriodSeconds":%d,"containers":[{"name":"c","command":["/bin/true"]}]}}`, name, grace)).
		must(a.t, http.StatusCreated)
	a.do("POST", pods+"/"+name+"/binding", fmt.Sprintf(`{"metadata":{"name":%q},"target":{"name":%q}}`, name, node)).must(a.t, http.StatusCreated)
}

// TestGracefulPodDeletion: a pod on a node is deleted in two steps, as in
// Kubernetes: the delete marks it (its agent stops it), a delete with grace
// period 0 removes it. A pod on no node goes at once.
func TestGracefulPodDeletion(t *testing.T) {
	a := startAPI(t, clustertest.Options{})
	const pods = "/api/v1/namespaces/default/pods"
	a.bindPod("bound", "node-1", 30)
	r := a.do("DELETE", pods+"/bound", "").must(t, http.StatusOK)
	if !strings.Contains(string(r.body), `"deletionTimestamp"`) || !strings.Contains(string(r.body), `"deletionGracePeriodSeconds":30`) {
		t.Fatalf("delete of a bound pod: %s; want it marked with a 30 s grace period", r.body)
	}
	a.do("GET", pods+"/bound", "").must(t, http.StatusOK)
	// A status write (the agent marking it not ready) keeps the mark.
	a.do("PATCH", pods+"/bound/status", `{"status":{"phase":"Running"}}`, "Content-Type", "application/merge-patch+json").must(t, http.StatusOK)
	if got := a.do("GET", pods+"/bound", "").must(t, http.StatusOK); !strings.Contains(string(got.body), `"deletionTimestamp"`) {
		t.Fatalf("a status write dropped the deletion mark: %s", got.body)
	}
	// A shorter grace period shortens it; then 0 removes the pod.
	r = a.do("DELETE", pods+"/bound?gracePeriodSeconds=5", "").must(t, http.StatusOK)
	if !strings.Contains(string(r.body), `"deletionGracePeriodSeconds":5`) {
		t.Errorf("shortened grace: %s", r.body)
	}
	a.do("DELETE", pods+"/bound", `{"gracePeriodSeconds":0}`).must(t, http.StatusOK)
	a.do("GET", pods+"/bound", "").must(t, http.StatusNotFound)
	a.do("DELETE", pods+"/x?gracePeriodSeconds=-1", "").must(t, http.StatusBadRequest)

	a.do("POST", pods, `{"metadata":{"name":"loose"},"spec":{"schedulerName":"none","containers":[{"name":"c","command":["/bin/true"]}]}}`).must(t, http.StatusCreated)
	a.do("DELETE", pods+"/loose", "").must(t, http.StatusOK)
	a.do("GET", pods+"/loose", "").must(t, http.StatusNotFound)
}

// TestNodeRestriction: a node's token writes the status of, and deletes,
// only pods bound to it.
func TestNodeRestriction(t *testing.T) {
	a := startAPI(t, clustertest.Options{})
	tok1, err := a.shoal.Tokens.NodeToken("node-1")
	if err != nil {
		t.Fatal(err)
	}
	const pods = "/api/v1/namespaces/default/pods"
	a.bindPod("mine", "node-1", 0)
	a.bindPod("theirs", "node-2", 0)
	patch := `{"status":{"phase":"Running"}}`
	ct := []string{"Content-Type", "application/merge-patch+json"}
	a.doAs(tok1, "PATCH", pods+"/mine/status", patch, ct...).must(t, http.StatusOK)
	a.doAs(tok1, "PATCH", pods+"/theirs/status", patch, ct...).
		wantStatus(t, http.StatusForbidden, metav1.StatusReasonForbidden, `node "node-1" can only change pods bound to it`)
	a.doAs(tok1, "DELETE", pods+"/theirs", "").wantStatus(t, http.StatusForbidden, metav1.StatusReasonForbidden)
	a.doAs(tok1, "DELETE", pods+"/mine", "").must(t, http.StatusOK)
	a.doAs(tok1, "PATCH", pods+"/theirs", `{"metadata":{"labels":{"x":"y"}}}`, ct...).wantStatus(t, http.StatusForbidden, metav1.StatusReasonForbidden)
}

// TestNodeSelfRegistration: a node's token creates its own Node and Lease,
// and no other.
func TestNodeSelfRegistration(t *testing.T) {
	a := startAPI(t, clustertest.Options{})
	tok, err := a.shoal.Tokens.NodeToken("node-1")
	if err != nil {
		t.Fatal(err)
	}
	a.doAs(tok, "POST", "/api/v1/nodes", `{"metadata":{"name":"node-1"}}`).must(t, http.StatusCreated)
	a.doAs(tok, "POST", "/api/v1/nodes", `{"metadata":{"name":"node-2"}}`).
		wantStatus(t, http.StatusForbidden, metav1.StatusReasonForbidden, `node "node-1" can only create its own nodes, not "node-2"`)
	const leases = "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases"
	a.doAs(tok, "POST", leases, `{"metadata":{"name":"node-1"},"spec":{"holderIdentity":"node-1"}}`).must(t, http.StatusCreated)
	a.doAs(tok, "POST", leases, `{"metadata":{"name":"node-2"}}`).wantStatus(t, http.StatusForbidden, metav1.StatusReasonForbidden)
	a.doAs(tok, "POST", "/apis/coordination.k8s.io/v1/namespaces/default/leases", `{"metadata":{"name":"node-1"}}`).
		wantStatus(t, http.StatusForbidden, metav1.StatusReasonForbidden)
}
