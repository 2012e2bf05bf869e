package e2e

import (
	"bytes"
	"context"
	"fmt"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/shoalmesh/shoal/cluster/clustertest"
	"github.com/shoalmesh/shoal/controlplane/store/storetest"
	"github.com/shoalmesh/shoal/internal/testenv"
	"github.com/shoalmesh/shoal/xds/xdstest"
)

// fetch asks the xDS server at addr for one resource and returns its bytes.
func fetch(t *testing.T, addr, typeURL, name string) ([]byte, error) {
	t.Helper()
	cc, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	st, err := discoveryv3.NewAggregatedDiscoveryServiceClient(cc).StreamAggregatedResources(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Send(&discoveryv3.DiscoveryRequest{Node: &corev3.Node{Id: "fetch", UserAgentName: "gRPC Go"}, TypeUrl: typeURL, ResourceNames: []string{name}}); err != nil {
		t.Fatal(err)
	}
	r, err := st.Recv()
	if err != nil {
		return nil, err
	}
	if len(r.Resources) != 1 {
		// Not there yet: the replica's caches follow etcd.
		return nil, fmt.Errorf("%s %s from %s: %d resources", typeURL, name, addr, len(r.Resources))
	}
	return r.Resources[0].Value, nil
}

// TestXDSReplicas runs two `shoal controlplane` replicas on one etcd: both
// serve byte-identical resources, and the cluster-wide weights are shared —
// a flood reported to one replica moves the traffic of a client of the
// other.
func TestXDSReplicas(t *testing.T) {
	etcd := storetest.StartEtcd(t)
	servers := []string{etcd.ClientURL}
	first := clustertest.StartControlPlane(t, clustertest.Options{EtcdServers: servers})
	dir := t.TempDir()
	clustertest.CopyCredentials(t, first.DataDir, dir)
	second := clustertest.StartControlPlane(t, clustertest.Options{EtcdServers: servers, DataDir: dir})

	cs := first.Clientset(t)
	port, backends := xdstest.StartBackends(t, 256, "127.0.0.14", "127.0.0.15", "127.0.0.16")
	for _, b := range backends {
		b.SetDelay(5 * time.Millisecond)
	}
	registerEcho(t, cs, "shared", "", port, "127.0.0.14", "127.0.0.15", "127.0.0.16")
	registerEcho(t, cs, "flood", "", port, "127.0.0.14")

	name := "shared.default.svc.cluster.local:50051"
	for _, typeURL := range []string{resourcev3.ListenerType, resourcev3.ClusterType, resourcev3.EndpointType} {
		testenv.Eventually(t, 10*time.Second, "replicas agree on "+typeURL, func() error {
			a, err := fetch(t, first.XDSAddr, typeURL, name)
			if err != nil {
				return err
			}
			b, err := fetch(t, second.XDSAddr, typeURL, name)
			if err != nil {
				return err
			}
			if !bytes.Equal(a, b) {
				return fmt.Errorf("replicas serve different %s", typeURL)
			}
			return nil
		})
	}

	observer := dialReady(t, second.XDSAddr, "observer", "shared", 3)
	flooder := dialReady(t, first.XDSAddr, "flooder", "flood", 1)
	floodShifts(t, observer, flooder, backends[0].Addr)
}
