package api

import (
	"slices"

	appsv1 "k8s.io/api/apps/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// Info is a Resource with what the API server needs to serve it beyond
// where it is stored: its list kind, short names, categories and
// subresources.
type Info struct {
	*Resource
	ListKind   string
	ShortNames []string
	Categories []string
	// Singular is the lower-case kind, as discovery reports it.
	Singular string
	// Status and Scale report the status and scale subresources.
	Status, Scale bool
}

var (
	coreV1  = schema.GroupVersion{Version: "v1"}
	appsV1  = appsv1.SchemeGroupVersion
	discV1  = discoveryv1.SchemeGroupVersion
	coordV1 = coordinationv1.SchemeGroupVersion
)

// The resources Shoal serves. Keys follow Kubernetes' etcd layout.
var (
	Namespaces = &Info{Resource: &Resource{
		GroupVersion: coreV1, Kind: "Namespace", Name: "namespaces", Prefix: "/registry/namespaces/",
		New: func() Object { return &corev1.Namespace{} },
		Fields: func(o Object) fields.Set {
			return fields.Set{"status.phase": string(o.(*corev1.Namespace).Status.Phase)}
		},
	}, ListKind: "NamespaceList", ShortNames: []string{"ns"}, Singular: "namespace", Status: true}

	Services = &Info{Resource: &Resource{
		GroupVersion: coreV1, Kind: "Service", Name: "services", Namespaced: true, Prefix: "/registry/services/specs/",
		New: func() Object { return &corev1.Service{} },
	}, ListKind: "ServiceList", ShortNames: []string{"svc"}, Categories: []string{"all"}, Singular: "service", Status: true}

	Pods = &Info{Resource: &Resource{
		GroupVersion: coreV1, Kind: "Pod", Name: "pods", Namespaced: true, Prefix: "/registry/pods/",
		New: func() Object { return &corev1.Pod{} },
		Fields: func(o Object) fields.Set {
			p := o.(*corev1.Pod)
			return fields.Set{
				"status.phase":             string(p.Status.Phase),
				"spec.nodeName":            p.Spec.NodeName,
				"spec.restartPolicy":       string(p.Spec.RestartPolicy),
				"spec.schedulerName":       p.Spec.SchedulerName,
				"spec.serviceAccountName":  p.Spec.ServiceAccountName,
				"spec.hostNetwork":         boolString(p.Spec.HostNetwork),
				"status.podIP":             p.Status.PodIP,
				"status.nominatedNodeName": p.Status.NominatedNodeName,
			}
		},
	}, ListKind: "PodList", ShortNames: []string{"po"}, Categories: []string{"all"}, Singular: "pod", Status: true}

	Nodes = &Info{Resource: &Resource{
		GroupVersion: coreV1, Kind: "Node", Name: "nodes", Prefix: "/registry/minions/",
		New: func() Object { return &corev1.Node{} },
		Fields: func(o Object) fields.Set {
			return fields.Set{"spec.unschedulable": boolString(o.(*corev1.Node).Spec.Unschedulable)}
		},
	}, ListKind: "NodeList", ShortNames: []string{"no"}, Singular: "node", Status: true}

	Endpoints = &Info{Resource: &Resource{
		GroupVersion: coreV1, Kind: "Endpoints", Name: "endpoints", Namespaced: true, Prefix: "/registry/services/endpoints/",
		New: func() Object { return &corev1.Endpoints{} },
	}, ListKind: "EndpointsList", ShortNames: []string{"ep"}, Singular: "endpoints"}

	Events = &Info{Resource: &Resource{
		GroupVersion: coreV1, Kind: "Event", Name: "events", Namespaced: true, Prefix: "/registry/events/",
		New: func() Object { return &corev1.Event{} },
		Fields: func(o Object) fields.Set {
			e := o.(*corev1.Event)
			return fields.Set{
				"involvedObject.kind":            e.InvolvedObject.Kind,
				"involvedObject.namespace":       e.InvolvedObject.Namespace,
				"involvedObject.name":            e.InvolvedObject.Name,
				"involvedObject.uid":             string(e.InvolvedObject.UID),
				"involvedObject.apiVersion":      e.InvolvedObject.APIVersion,
				"involvedObject.resourceVersion": e.InvolvedObject.ResourceVersion,
				"involvedObject.fieldPath":       e.InvolvedObject.FieldPath,
				"reason":                         e.Reason,
				"reportingComponent":             e.ReportingController,
				"source":                         e.Source.Component,
				"type":                           e.Type,
			}
		},
	}, ListKind: "EventList", ShortNames: []string{"ev"}, Singular: "event"}

	Deployments = &Info{Resource: &Resource{
		GroupVersion: appsV1, Kind: "Deployment", Name: "deployments", Namespaced: true, Prefix: "/registry/deployments/",
		New: func() Object { return &appsv1.Deployment{} },
	}, ListKind: "DeploymentList", ShortNames: []string{"deploy"}, Categories: []string{"all"}, Singular: "deployment", Status: true, Scale: true}

	ReplicaSets = &Info{Resource: &Resource{
		GroupVersion: appsV1, Kind: "ReplicaSet", Name: "replicasets", Namespaced: true, Prefix: "/registry/replicasets/",
		New: func() Object { return &appsv1.ReplicaSet{} },
	}, ListKind: "ReplicaSetList", ShortNames: []string{"rs"}, Categories: []string{"all"}, Singular: "replicaset", Status: true, Scale: true}

	EndpointSlices = &Info{Resource: &Resource{
		GroupVersion: discV1, Kind: "EndpointSlice", Name: "endpointslices", Namespaced: true, Prefix: "/registry/endpointslices/",
		New: func() Object { return &discoveryv1.EndpointSlice{} },
		Fields: func(o Object) fields.Set {
			return fields.Set{"addressType": string(o.(*discoveryv1.EndpointSlice).AddressType)}
		},
	}, ListKind: "EndpointSliceList", Singular: "endpointslice"}

	Leases = &Info{Resource: &Resource{
		GroupVersion: coordV1, Kind: "Lease", Name: "leases", Namespaced: true, Prefix: "/registry/leases/",
		New: func() Object { return &coordinationv1.Lease{} },
	}, ListKind: "LeaseList", Singular: "lease"}
)

// All is every resource Shoal serves, in discovery order.
var All = slices.Concat([]*Info{Namespaces, Services, Pods, Nodes, Endpoints, Events, Deployments, ReplicaSets, EndpointSlices, Leases}, ConfigResources, RBAC, Workloads)

func boolString(b bool) string {
	if b {
		return "true"
	}
	return "false"
}
