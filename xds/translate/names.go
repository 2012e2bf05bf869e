package translate

import (
	"strconv"

	corev1 "k8s.io/api/core/v1"
)

// DefaultDomain is the cluster DNS domain used when View.Domain is empty.
const DefaultDomain = "cluster.local"

// Host is the DNS name of a Service: <name>.<namespace>.svc.<domain>.
func Host(name, namespace, domain string) string {
	if domain == "" {
		domain = DefaultDomain
	}
	return name + "." + namespace + ".svc." + domain
}

// ResourceName is the name shared by the Listener, RouteConfiguration,
// Cluster and ClusterLoadAssignment of one Service port; it equals the
// host:port of the gRPC target xds:///<name>.
func ResourceName(name, namespace, domain string, port int32) string {
	return Host(name, namespace, domain) + ":" + strconv.Itoa(int(port))
}

func portName(svc *corev1.Service, p corev1.ServicePort, domain string) string {
	return ResourceName(svc.Name, svc.Namespace, domain, p.Port)
}
