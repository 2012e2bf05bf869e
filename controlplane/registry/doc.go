// Package registry holds Shoal's per-resource rules for the resources that
// package api describes (re-exported here as registry.Pods and so on): how
// each is defaulted and validated (every error names its field path), which
// fields Shoal keeps but does not act on (answered with a Warning header),
// ClusterIP and node pod CIDR allocation, and pod binding.
package registry
