package apiserver_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"slices"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/shoalmesh/shoal/cluster/clustertest"
)

// The pods/binding subresource over raw HTTP: what kube-scheduler posts, and
// the answers to what it must refuse.
func TestBindingSubresource(t *testing.T) {
	a := startAPI(t, clustertest.Options{})
	const pods = "/api/v1/namespaces/default/pods"
	// A scheduler nobody runs, so that only the test binds the pod.
	a.do("POST", pods, `{"metadata":{"name":"p"},"spec":{"schedulerName":"none","containers":[{"name":"c","command":["/bin/true"]}]}}`).
		must(t, http.StatusCreated)

	var st metav1.Status
	r := a.do("POST", pods+"/p/binding", `{"apiVersion":"v1","kind":"Binding","metadata":{"name":"p"},"target":{"kind":"Node","name":"node-1"}}`).
		must(t, http.StatusCreated)
	if err := json.Unmarshal(r.body, &st); err != nil || st.Status != metav1.StatusSuccess || st.Kind != "Status" {
		t.Fatalf("binding answer %s: want a Success Status", r.body)
	}
	if got := a.do("GET", pods+"/p", "").must(t, 200); !bytes.Contains(got.body, []byte(`"nodeName":"node-1"`)) {
		t.Fatalf("pod after binding: %s", got.body)
	}

	a.do("POST", pods+"/p/binding", `{"metadata":{"name":"p"},"target":{"name":"node-2"}}`).
		wantStatus(t, http.StatusConflict, metav1.StatusReasonConflict, `pod p is already assigned to node "node-1"`)
	a.do("POST", pods+"/ghost/binding", `{"target":{"name":"node-1"}}`).
		wantStatus(t, http.StatusNotFound, metav1.StatusReasonNotFound, `pods "ghost" not found`)
	a.do("POST", pods+"/p/binding", `{"metadata":{"name":"q"},"target":{"name":"node-1"}}`).
		wantStatus(t, http.StatusBadRequest, metav1.StatusReasonBadRequest, "does not match the pod on the URL")
	a.do("POST", pods+"/p/binding", `{"metadata":{"name":"p"},"target":{}}`).
		wantStatus(t, http.StatusUnprocessableEntity, metav1.StatusReasonInvalid, "target.name: Required value")
	a.do("POST", pods+"/p/binding", `{"kind":"Pod"}`).
		wantStatus(t, http.StatusBadRequest, metav1.StatusReasonBadRequest, "takes a Binding")
	a.do("GET", pods+"/p/binding", "").wantStatus(t, http.StatusMethodNotAllowed, metav1.StatusReasonMethodNotAllowed)
	a.do("POST", "/api/v1/namespaces/default/services/kubernetes/binding", `{"target":{"name":"node-1"}}`).
		wantStatus(t, http.StatusNotFound, metav1.StatusReasonNotFound)

	var list metav1.APIResourceList
	if err := json.Unmarshal(a.do("GET", "/api/v1", "").must(t, 200).body, &list); err != nil {
		t.Fatal(err)
	}
	i := slices.IndexFunc(list.APIResources, func(r metav1.APIResource) bool { return r.Name == "pods/binding" })
	if i < 0 || list.APIResources[i].Kind != "Binding" || !slices.Equal(list.APIResources[i].Verbs, []string{"create"}) {
		t.Errorf("discovery of pods/binding: %+v", list.APIResources)
	}
}
