// Package registry holds Shoal's per-resource rules: which Kubernetes types
// the API serves and where they live in etcd, how each is defaulted and
// validated (every error names its field path), which fields Shoal keeps but
// does not act on (answered with a Warning header), ClusterIP and node pod
// CIDR allocation, and pod binding.
package registry
