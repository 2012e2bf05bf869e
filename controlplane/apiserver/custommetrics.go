package apiserver

import (
	"fmt"
	"math"
	"net/http"
	"sort"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/shoalmesh/shoal/api"
	"github.com/shoalmesh/shoal/controlplane/registry"
	"github.com/shoalmesh/shoal/controlplane/store"
	"github.com/shoalmesh/shoal/controlplane/trafficload"
)

// The custom metrics API (custom.metrics.k8s.io/v1beta2) for Shoal's own
// Pods metrics, the ones its autoscaler reads from the proxies' traffic:
//
//	kubectl get --raw '/apis/custom.metrics.k8s.io/v1beta2/namespaces/shop/pods/*/shoal_requests_per_second?labelSelector=app%3Dweb'
//
// The types follow k8s.io/metrics' JSON.
const customMetricsGroup, customMetricsVersion = "custom.metrics.k8s.io", "v1beta2"

var customMetrics = []string{api.MetricRequestsPerSecond, api.MetricInFlightRequests}

type metricIdentifier struct {
	Name     string                `json:"name"`
	Selector *metav1.LabelSelector `json:"selector,omitempty"`
}

type metricValue struct {
	metav1.TypeMeta `json:",inline"`
	DescribedObject corev1.ObjectReference `json:"describedObject"`
	Metric          metricIdentifier       `json:"metric"`
	Timestamp       metav1.Time            `json:"timestamp"`
	WindowSeconds   *int64                 `json:"windowSeconds,omitempty"`
	Value           resource.Quantity      `json:"value"`
}

type metricValueList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata"`
	Items           []metricValue `json:"items"`
}

func customMetricsDiscovery() *metav1.APIResourceList {
	l := &metav1.APIResourceList{TypeMeta: metav1.TypeMeta{Kind: "APIResourceList", APIVersion: "v1"},
		GroupVersion: customMetricsGroup + "/" + customMetricsVersion}
	for _, m := range customMetrics {
		l.APIResources = append(l.APIResources, metav1.APIResource{Name: "pods/" + m, Namespaced: true, Kind: "MetricValueList", Verbs: metav1.Verbs{"get"}})
	}
	return l
}

// serveCustomMetrics answers GET namespaces/{ns}/pods/{name or *}/{metric}.
func (s *Server) serveCustomMetrics(w http.ResponseWriter, r *http.Request, ri requestInfo) {
	if ri.Version != customMetricsVersion || ri.Resource != "pods" || ri.Namespace == "" || ri.Name == "" || ri.Subresource == "" {
		writeError(w, apierrors.NewNotFound(ri.groupResource(), ri.Name))
		return
	}
	if ri.Verb != "get" {
		writeError(w, apierrors.NewMethodNotSupported(ri.groupResource(), r.Method))
		return
	}
	sel, err := labels.Parse(r.URL.Query().Get("labelSelector"))
	if err != nil {
		writeError(w, apierrors.NewBadRequest(fmt.Sprintf("labelSelector: %v", err)))
		return
	}
	res, err := s.store.List(r.Context(), registry.Pods.Resource, ri.Namespace, store.ListOptions{Predicate: store.Predicate{Label: sel}})
	if err != nil {
		writeError(w, err)
		return
	}
	var pods []*corev1.Pod
	for _, o := range res.Items {
		if ri.Name == "*" || o.GetName() == ri.Name {
			pods = append(pods, o.(*corev1.Pod))
		}
	}
	if _, err := trafficload.PodValues(nil, ri.Subresource, nil); err != nil {
		writeError(w, apierrors.NewNotFound(ri.groupResource(), ri.Subresource))
		return
	}
	report, err := trafficload.Read(r.Context(), s.store.Client(), "", s.log)
	if err != nil {
		writeError(w, apierrors.NewServiceUnavailable(err.Error()))
		return
	}
	values, _ := trafficload.PodValues(report, ri.Subresource, pods)
	if ri.Name != "*" && len(values) == 0 {
		writeError(w, apierrors.NewNotFound(ri.groupResource(), fmt.Sprintf("%s/%s", ri.Name, ri.Subresource)))
		return
	}
	gv := customMetricsGroup + "/" + customMetricsVersion
	list := &metricValueList{TypeMeta: metav1.TypeMeta{Kind: "MetricValueList", APIVersion: gv}, Items: []metricValue{}}
	now, window := metav1.NewTime(time.Now().Truncate(time.Second)), int64(1)
	for name, v := range values {
		list.Items = append(list.Items, metricValue{
			DescribedObject: corev1.ObjectReference{Kind: "Pod", APIVersion: "/v1", Namespace: ri.Namespace, Name: name},
			Metric:          metricIdentifier{Name: ri.Subresource}, Timestamp: now, WindowSeconds: &window,
			Value: *resource.NewMilliQuantity(int64(math.Round(v*1000)), resource.DecimalSI),
		})
	}
	sort.Slice(list.Items, func(i, j int) bool { return list.Items[i].DescribedObject.Name < list.Items[j].DescribedObject.Name })
	writeJSON(w, http.StatusOK, list)
}
