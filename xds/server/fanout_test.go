package server

import (
	"context"
	"fmt"
	"sync"
	"testing"

	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
)

// BenchmarkFanout measures one assignment change reaching 1000 ADS streams
// that watch it (and ACK), in process: the server's cost per push.
func BenchmarkFanout(b *testing.B) {
	s, cc := startB(b)
	if err := s.Update(Endpoints, map[string]types.Resource{"hot": cla("hot", "10.0.0.1")}, nil); err != nil {
		b.Fatal(err)
	}
	const n = 1000
	got := make(chan struct{}, n)
	var wg sync.WaitGroup
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ready := make(chan struct{}, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			st, err := discoveryv3.NewAggregatedDiscoveryServiceClient(cc).StreamAggregatedResources(ctx)
			if err != nil {
				return
			}
			st.Send(&discoveryv3.DiscoveryRequest{Node: grpcNode(fmt.Sprint("c", i)), TypeUrl: resourcev3.EndpointType, ResourceNames: []string{"hot"}})
			first := true
			for {
				r, err := st.Recv()
				if err != nil {
					return
				}
				st.Send(&discoveryv3.DiscoveryRequest{TypeUrl: resourcev3.EndpointType, ResourceNames: []string{"hot"}, VersionInfo: r.VersionInfo, ResponseNonce: r.Nonce})
				if first {
					first = false
					ready <- struct{}{}
					continue
				}
				got <- struct{}{}
			}
		}()
	}
	for range n {
		<-ready
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := s.Update(Endpoints, map[string]types.Resource{"hot": cla("hot", fmt.Sprintf("10.0.%d.%d", i/250, i%250+1))}, nil); err != nil {
			b.Fatal(err)
		}
		for range n {
			<-got
		}
	}
	b.StopTimer()
	cancel()
	wg.Wait()
}
