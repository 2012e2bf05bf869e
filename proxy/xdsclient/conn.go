package xdsclient

import (
	"context"
	"math/rand/v2"
	"net"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/resolver"
	"google.golang.org/grpc/resolver/manual"
)

// Dial returns a connection to the control plane at addr, for ADS and for
// load reports (package loadreport) alike. addr may list several servers,
// comma-separated (the xDS servers of a cluster's servers): the connection
// uses the first that answers and, when it is lost, the next.
func Dial(addr string, backoffMin, backoffMax time.Duration) (*grpc.ClientConn, error) {
	target, opts := addr, []grpc.DialOption(nil)
	if strings.Contains(addr, ",") {
		r := manual.NewBuilderWithScheme("shoal-xds")
		var state resolver.State
		for a := range strings.SplitSeq(addr, ",") {
			if a = strings.TrimSpace(a); a != "" {
				host, _, _ := net.SplitHostPort(a)
				state.Addresses = append(state.Addresses, resolver.Address{Addr: a, ServerName: host})
			}
		}
		r.InitialState(state)
		target, opts = r.Scheme()+":///xds", []grpc.DialOption{grpc.WithResolvers(r)}
	}
	return grpc.NewClient(target, append(opts,
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		// The channel's own reconnect back-off would otherwise grow to
		// two minutes, far beyond backoffMax.
		grpc.WithConnectParams(grpc.ConnectParams{Backoff: backoff.Config{
			BaseDelay: backoffMin, Multiplier: 1.6, Jitter: 0.2, MaxDelay: backoffMax,
		}, MinConnectTimeout: 5 * time.Second}),
		// Find a dead server (a powered-off machine) without waiting for
		// TCP to time out; the server allows pings every 5 s.
		grpc.WithKeepaliveParams(keepalive.ClientParameters{Time: 30 * time.Second, Timeout: 10 * time.Second}),
	)...)
}

// RetryStreams runs stream again and again until ctx is done, waiting
// between runs with exponential back-off from backoffMin to backoffMax, back
// to backoffMin after a run in which the server answered (received). ended
// is told why each run ended and how long the wait is.
func RetryStreams(ctx context.Context, backoffMin, backoffMax time.Duration,
	stream func(context.Context) (received bool, err error), ended func(err error, retryIn time.Duration)) {
	wait := backoffMin
	for {
		received, err := stream(ctx)
		if ctx.Err() != nil {
			return
		}
		if received {
			wait = backoffMin // the server was up: retry soon
		}
		// Full jitter over the upper half, so proxies restarted together
		// do not reconnect together.
		d := wait/2 + rand.N(wait/2+1)
		ended(err, d)
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		wait = min(wait*2, backoffMax)
	}
}
