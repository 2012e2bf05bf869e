package loadsync

import (
	"context"
	"testing"
	"time"

	"github.com/shoalmesh/shoal/controlplane/store/storetest"
	"github.com/shoalmesh/shoal/controlplane/trafficload"
	"github.com/shoalmesh/shoal/xds/load"
)

// What a replica publishes is what the autoscaler's reader reads: the
// request rate and in-flight requests its LRS clients reported.
func TestPublishedLoadReadsBack(t *testing.T) {
	client := storetest.StartEtcd(t).Client(t)
	table := load.NewTable()
	s := New(Config{Client: client, Replica: "xds-1", Table: table, Weigher: load.NewWeigher(load.Options{}), Period: 20 * time.Millisecond})
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { s.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })

	deadline := time.Now().Add(10 * time.Second)
	for {
		table.Add("proxy-a", "10.244.0.7", load.Sample{Issued: 120, Succeeded: 120, InProgress: 4, Interval: 2 * time.Second}, time.Now())
		got, err := trafficload.Read(t.Context(), client, "", nil)
		if err != nil {
			t.Fatal(err)
		}
		if l, ok := got["10.244.0.7"]; ok {
			if l.RPS != 60 || l.InFlight != 4 || l.Reporters != 1 {
				t.Errorf("read back %+v; want 60 requests per second, 4 in flight, 1 reporter", l)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("nothing published under %s within 10 s", trafficload.Key("xds-1"))
		}
		time.Sleep(20 * time.Millisecond)
	}
}
