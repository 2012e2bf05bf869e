package apiserver

import (
	"fmt"
	"net/http"
	"sort"
	"strings"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/shoalmesh/shoal/api"
	"github.com/shoalmesh/shoal/controlplane/registry"
	"github.com/shoalmesh/shoal/controlplane/store"
)

// The resource metrics API (metrics.k8s.io/v1beta1) that `kubectl top`
// reads, served from the load reports node agents put on their Leases: no
// metrics-server to run. The types follow k8s.io/metrics' JSON.
const metricsGroup, metricsVersion = "metrics.k8s.io", "v1beta1"

type nodeMetrics struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`
	Timestamp         metav1.Time         `json:"timestamp"`
	Window            metav1.Duration     `json:"window"`
	Usage             corev1.ResourceList `json:"usage"`
}

type nodeMetricsList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []nodeMetrics `json:"items"`
}

type containerMetrics struct {
	Name  string              `json:"name"`
	Usage corev1.ResourceList `json:"usage"`
}

type podMetrics struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`
	Timestamp         metav1.Time        `json:"timestamp"`
	Window            metav1.Duration    `json:"window"`
	Containers        []containerMetrics `json:"containers"`
}

type podMetricsList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []podMetrics `json:"items"`
}

func metricsDiscovery() *metav1.APIResourceList {
	verbs := metav1.Verbs{"get", "list"}
	return &metav1.APIResourceList{
		TypeMeta:     metav1.TypeMeta{Kind: "APIResourceList", APIVersion: "v1"},
		GroupVersion: metricsGroup + "/" + metricsVersion,
		APIResources: []metav1.APIResource{
			{Name: "nodes", Kind: "NodeMetrics", Verbs: verbs},
			{Name: "pods", Namespaced: true, Kind: "PodMetrics", Verbs: verbs},
		},
	}
}

// report is one node's latest load report.
type report struct {
	node string
	r    api.LoadReport
	at   time.Time
}

// reports reads every node's load report from the node Leases.
func (s *Server) reports(r *http.Request) ([]report, error) {
	var leases []store.Object
	if s.caches != nil {
		leases = s.caches.For(registry.Leases.Resource).List(api.NodeLeaseNamespace, store.Predicate{})
	} else {
		res, err := s.store.List(r.Context(), registry.Leases.Resource, api.NodeLeaseNamespace, store.ListOptions{})
		if err != nil {
			return nil, err
		}
		leases = res.Items
	}
	var out []report
	for _, o := range leases {
		l := o.(*coordinationv1.Lease)
		rep, ok, err := api.LoadReportOf(l)
		if !ok || err != nil {
			continue
		}
		at := rep.Time
		if at.IsZero() && l.Spec.RenewTime != nil {
			at = l.Spec.RenewTime.Time
		}
		out = append(out, report{node: l.Name, r: rep, at: at})
	}
	return out, nil
}

func usage(cpu float64, mem int64) corev1.ResourceList {
	return corev1.ResourceList{
		corev1.ResourceCPU:    *resource.NewMilliQuantity(int64(cpu*1000+0.5), resource.DecimalSI),
		corev1.ResourceMemory: *resource.NewQuantity(mem, resource.BinarySI),
	}
}

// serveMetrics answers metrics.k8s.io/v1beta1 nodes and pods, list and get,
// with label selectors on the nodes or pods they describe.
func (s *Server) serveMetrics(w http.ResponseWriter, r *http.Request, ri requestInfo) {
	if ri.Version != metricsVersion || (ri.Resource != "nodes" && ri.Resource != "pods") || ri.Subresource != "" {
		writeError(w, apierrors.NewNotFound(ri.groupResource(), ri.Name))
		return
	}
	if ri.Verb != "get" && ri.Verb != "list" {
		writeError(w, apierrors.NewMethodNotSupported(ri.groupResource(), r.Method))
		return
	}
	sel, err := labels.Parse(r.URL.Query().Get("labelSelector"))
	if err != nil {
		writeError(w, apierrors.NewBadRequest(fmt.Sprintf("labelSelector: %v", err)))
		return
	}
	reps, err := s.reports(r)
	if err != nil {
		writeError(w, err)
		return
	}
	window := metav1.Duration{Duration: api.LoadInterval}
	if ri.Resource == "nodes" {
		list := &nodeMetricsList{TypeMeta: metav1.TypeMeta{Kind: "NodeMetricsList", APIVersion: metricsGroup + "/" + metricsVersion}, Items: []nodeMetrics{}}
		for _, rep := range reps {
			if ri.Name != "" && rep.node != ri.Name {
				continue
			}
			var lbls map[string]string
			if o, err := s.store.Get(r.Context(), registry.Nodes.Resource, "", rep.node); err == nil {
				lbls = o.GetLabels()
			}
			if !sel.Matches(labels.Set(lbls)) {
				continue
			}
			list.Items = append(list.Items, nodeMetrics{
				TypeMeta:   metav1.TypeMeta{Kind: "NodeMetrics", APIVersion: metricsGroup + "/" + metricsVersion},
				ObjectMeta: metav1.ObjectMeta{Name: rep.node, Labels: lbls, CreationTimestamp: metav1.Now()},
				Timestamp:  metav1.NewTime(rep.at), Window: window, Usage: usage(rep.r.CPU, rep.r.Memory),
			})
		}
		sort.Slice(list.Items, func(i, j int) bool { return list.Items[i].Name < list.Items[j].Name })
		s.writeMetrics(w, ri, list.Items, list)
		return
	}
	list := &podMetricsList{TypeMeta: metav1.TypeMeta{Kind: "PodMetricsList", APIVersion: metricsGroup + "/" + metricsVersion}, Items: []podMetrics{}}
	for _, rep := range reps {
		for key, pl := range rep.r.PodLoads {
			ns, name, ok := strings.Cut(key, "/")
			if !ok || (ri.Namespace != "" && ns != ri.Namespace) || (ri.Name != "" && name != ri.Name) {
				continue
			}
			o, err := s.store.Get(r.Context(), registry.Pods.Resource, ns, name)
			if err != nil {
				continue // gone since the report
			}
			pod := o.(*corev1.Pod)
			if !sel.Matches(labels.Set(pod.Labels)) || len(pod.Spec.Containers) == 0 {
				continue
			}
			// Agents measure a pod as a whole; its usage is shown on its
			// first container.
			list.Items = append(list.Items, podMetrics{
				TypeMeta:   metav1.TypeMeta{Kind: "PodMetrics", APIVersion: metricsGroup + "/" + metricsVersion},
				ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: pod.Labels, CreationTimestamp: metav1.Now()},
				Timestamp:  metav1.NewTime(rep.at), Window: window,
				Containers: []containerMetrics{{Name: pod.Spec.Containers[0].Name, Usage: usage(pl.CPU, pl.Memory)}},
			})
		}
	}
	sort.Slice(list.Items, func(i, j int) bool {
		a, b := list.Items[i], list.Items[j]
		return a.Namespace < b.Namespace || (a.Namespace == b.Namespace && a.Name < b.Name)
	})
	s.writeMetrics(w, ri, list.Items, list)
}

// writeMetrics writes the one item a get asks for, or the list.
func (s *Server) writeMetrics(w http.ResponseWriter, ri requestInfo, items any, list any) {
	if ri.Name == "" {
		writeJSON(w, http.StatusOK, list)
		return
	}
	switch it := items.(type) {
	case []nodeMetrics:
		if len(it) == 1 {
			writeJSON(w, http.StatusOK, &it[0])
			return
		}
	case []podMetrics:
		if len(it) == 1 {
			writeJSON(w, http.StatusOK, &it[0])
			return
		}
	}
	writeError(w, apierrors.NewNotFound(ri.groupResource(), ri.Name))
}
