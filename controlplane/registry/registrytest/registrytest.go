// Package registrytest builds a bootstrapped registry on a real etcd for
// tests: the one way every package's tests get one.
package registrytest

import (
	"testing"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/shoalmesh/shoal/controlplane/registry"
	"github.com/shoalmesh/shoal/controlplane/store"
)

// New returns a registry over client allocating ClusterIPs from cidr
// ("" is 10.96.0.0/16), with the system namespaces and the kubernetes
// Service created.
func New(t testing.TB, client *clientv3.Client, cidr string) *registry.Registry {
	t.Helper()
	if cidr == "" {
		cidr = "10.96.0.0/16"
	}
	ips, err := registry.NewIPAllocator(client, cidr)
	if err != nil {
		t.Fatal(err)
	}
	r := registry.New(store.New(client), ips, nil)
	if err := r.Bootstrap(t.Context()); err != nil {
		t.Fatalf("bootstrap registry: %v", err)
	}
	return r
}
