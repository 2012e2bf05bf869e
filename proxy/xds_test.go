package proxy

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"google.golang.org/protobuf/proto"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"

	"github.com/shoalmesh/shoal/internal/testenv"
	"github.com/shoalmesh/shoal/proxy/proxytest"
	xdsserver "github.com/shoalmesh/shoal/xds/server"
	"github.com/shoalmesh/shoal/xds/translate"
	"github.com/shoalmesh/shoal/xds/xdstest"
)

// These tests run the proxy against a real Shoal xDS server whose
// resources are the translation of hand-written Services, with VIPs and
// endpoints on 127.0.0.0/8 (no root needed: noVIPs only records them).

// service is a selector-less Service on vip:port whose ready endpoints
// are ips on targetPort. A portName of "http" makes it an HTTP (per
// request) service; anything else is plain TCP.
func service(name, vip string, port uint16, portName, policy string, targetPort uint16, ips ...string) translate.Service {
	svc := xdstest.Service("default", name, int32(port), policy)
	svc.Spec.ClusterIP = vip
	svc.Spec.Ports[0].Name = portName
	ready := map[string]bool{}
	for _, ip := range ips {
		ready[ip] = true
	}
	sl := xdstest.Slice("default", name, int(targetPort), ready)
	sl.Ports[0].Name = &svc.Spec.Ports[0].Name
	return translate.Service{Service: svc, Slices: []*discoveryv1.EndpointSlice{sl}}
}

// tcpBackend answers every connection on ip:port with name.
func tcpBackend(t *testing.T, ip string, port uint16, name string) {
	t.Helper()
	ln, err := net.Listen("tcp", net.JoinHostPort(ip, strconv.Itoa(int(port))))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Write([]byte(name))
			c.Close()
		}
	}()
}

func httpGet(addr string) (string, error) {
	c := &http.Client{Timeout: 2 * time.Second}
	res, err := c.Get("http://" + addr + "/")
	if err != nil {
		return "", err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if res.StatusCode != http.StatusOK {
		return string(b), &statusError{res.StatusCode}
	}
	return string(b), err
}

type statusError struct{ code int }

func (e *statusError) Error() string { return "status " + strconv.Itoa(e.code) }

// runProxy runs a proxy of srv until the test ends.
func runProxy(t *testing.T, xdsAddr string, balance Balance) *Proxy {
	t.Helper()
	p := New(Config{XDSAddr: xdsAddr, NodeID: "proxy-test", VIPs: &noVIPs{set: map[netip.Addr]bool{}}, Balance: balance})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("proxy Run: %v", err)
		}
	})
	return p
}

// answers is a check for testenv.Eventually: addr answers want (get is the
// L4 or HTTP client).
func answers(get func(string) (string, error), addr, want string) func() error {
	return func() error {
		got, err := get(addr)
		if err != nil {
			return err
		}
		if got != want {
			return fmt.Errorf("answered %s, want %s", got, want)
		}
		return nil
	}
}

func l4Get(addr string) (string, error) { return get(nil, netip.MustParseAddrPort(addr)) }

// TestBadInputIsNACKedAndServingGoesOn: a listener on a port in use, a
// route to an unknown cluster and a malformed cluster are each NACKed
// with the reason naming the resource; the update is refused whole
// (nothing half-applied) and the proxy keeps serving the last good
// configuration; the next good update is applied.
func TestBadInputIsNACKedAndServingGoesOn(t *testing.T) {
	port := uint16(testenv.FreePort(t, "127.0.0.71", "127.0.0.72", "127.0.0.61", "127.0.0.62", "127.0.0.63", "127.0.0.64"))
	tcpBackend(t, "127.0.0.71", port, "a")
	proxytest.NameServer(t, net.JoinHostPort("127.0.0.72", strconv.Itoa(int(port))), "h")
	ps := strconv.Itoa(int(port))
	tcp := service("tcp", "127.0.0.61", port, "tcp", "", port, "127.0.0.71")
	web := service("web", "127.0.0.62", port, "http", "", port, "127.0.0.72")

	srv := xdstest.StartServer(t, "127.0.0.1:0")
	srv.Feed(t, tcp, web)
	runProxy(t, srv.Addr, FollowCluster)
	testenv.Eventually(t, 10*time.Second, "the TCP service", answers(l4Get, "127.0.0.61:"+ps, "a"))
	testenv.Eventually(t, 10*time.Second, "the HTTP service", answers(httpGet, "127.0.0.62:"+ps, "h"))

	// A Service whose port something else on the node holds, next to a
	// new good one: the whole update is refused.
	busy, err := net.Listen("tcp", "127.0.0.63:"+ps)
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	extra := service("extra", "127.0.0.64", port, "tcp", "", port, "127.0.0.71")
	srv.Feed(t, tcp, web, service("busy", "127.0.0.63", port, "tcp", "", port, "127.0.0.71"), extra)
	reason := srv.NACK(t)
	if !strings.Contains(reason, "127.0.0.63_"+ps) || !strings.Contains(reason, "address already in use") {
		t.Errorf("NACK reason %q does not name the listener and the port in use", reason)
	}
	if _, err := l4Get("127.0.0.64:" + ps); err == nil {
		t.Error("a listener of the refused update serves")
	}
	testenv.Eventually(t, 10*time.Second, "the TCP service after the NACK", answers(l4Get, "127.0.0.61:"+ps, "a"))

	// A route to a cluster the control plane never sent.
	routeName := "web.default.svc.cluster.local:" + ps
	route := proto.Clone(srv.Resources(xdsserver.Routes)[routeName].(*routev3.RouteConfiguration)).(*routev3.RouteConfiguration)
	route.VirtualHosts[0].Routes[0].GetRoute().ClusterSpecifier = &routev3.RouteAction_Cluster{Cluster: "nope.default.svc.cluster.local:80"}
	if err := srv.Update(xdsserver.Routes, map[string]types.Resource{routeName: route}, nil); err != nil {
		t.Fatal(err)
	}
	reason = srv.NACK(t)
	if !strings.Contains(reason, routeName) || !strings.Contains(reason, `unknown cluster "nope.default.svc.cluster.local:80"`) {
		t.Errorf("NACK reason %q does not name the route and the unknown cluster", reason)
	}
	testenv.Eventually(t, 10*time.Second, "the HTTP service after the NACK", answers(httpGet, "127.0.0.62:"+ps, "h"))

	// A malformed cluster (a type Shoal's proxy does not take).
	var clName string
	var cl *clusterv3.Cluster
	for name, r := range srv.Resources(xdsserver.Clusters) {
		if strings.HasPrefix(name, "tcp.") {
			clName, cl = name, proto.Clone(r.(*clusterv3.Cluster)).(*clusterv3.Cluster)
		}
	}
	cl.ClusterDiscoveryType = &clusterv3.Cluster_Type{Type: clusterv3.Cluster_STATIC}
	if err := srv.Update(xdsserver.Clusters, map[string]types.Resource{clName: cl}, nil); err != nil {
		t.Fatal(err)
	}
	reason = srv.NACK(t)
	if !strings.Contains(reason, clName) || !strings.Contains(reason, "only EDS") {
		t.Errorf("NACK reason %q does not name the cluster and the problem", reason)
	}
	testenv.Eventually(t, 10*time.Second, "the TCP service after the malformed cluster", answers(l4Get, "127.0.0.61:"+ps, "a"))

	// The port is freed and the control plane sends a good state: all of it
	// is applied.
	busy.Close()
	srv.Feed(t, tcp, web, service("busy", "127.0.0.63", port, "tcp", "", port, "127.0.0.71"), extra)
	testenv.Eventually(t, 10*time.Second, "the once-busy service", answers(l4Get, "127.0.0.63:"+ps, "a"))
	testenv.Eventually(t, 10*time.Second, "the new service of the same update", answers(l4Get, "127.0.0.64:"+ps, "a"))
	testenv.Eventually(t, 10*time.Second, "the HTTP service", answers(httpGet, "127.0.0.62:"+ps, "h"))
}

// TestControlPlaneStoppedKeepsRouting: with the xDS server gone the proxy
// serves on its last configuration; a server back on the same address with
// a changed state is followed.
func TestControlPlaneStoppedKeepsRouting(t *testing.T) {
	port := uint16(testenv.FreePort(t, "127.0.0.71", "127.0.0.72", "127.0.0.61"))
	tcpBackend(t, "127.0.0.71", port, "a")
	tcpBackend(t, "127.0.0.72", port, "b")
	ps := strconv.Itoa(int(port))
	srv := xdstest.StartServer(t, "127.0.0.1:0")
	addr := srv.Addr
	srv.Feed(t, service("tcp", "127.0.0.61", port, "tcp", "", port, "127.0.0.71"))
	runProxy(t, addr, FollowCluster)
	testenv.Eventually(t, 10*time.Second, "the service", answers(l4Get, "127.0.0.61:"+ps, "a"))

	srv.Stop()
	for i := range 50 {
		if got, err := l4Get("127.0.0.61:" + ps); err != nil || got != "a" {
			t.Fatalf("connection %d with the control plane down: %q, %v", i, got, err)
		}
		time.Sleep(10 * time.Millisecond)
	}

	srv = xdstest.StartServer(t, addr)
	srv.Feed(t, service("tcp", "127.0.0.61", port, "tcp", "", port, "127.0.0.72"))
	testenv.Eventually(t, 10*time.Second, "the restarted control plane's endpoints", answers(l4Get, "127.0.0.61:"+ps, "b"))
}

// TestBalanceFollowsClusterPolicy: a Service annotated round-robin is
// balanced round robin, the others least request, unless the proxy is told
// otherwise.
func TestBalanceFollowsClusterPolicy(t *testing.T) {
	port := uint16(testenv.FreePort(t, "127.0.0.61", "127.0.0.62"))
	srv := xdstest.StartServer(t, "127.0.0.1:0")
	srv.Feed(t, service("ll", "127.0.0.61", port, "tcp", "", port, "127.0.0.71"),
		service("rr", "127.0.0.62", port, "tcp", "round-robin", port, "127.0.0.71"))
	for _, tc := range []struct {
		balance Balance
		ll, rr  string
	}{{FollowCluster, "least_request", "round_robin"}, {ForceRoundRobin, "round_robin", "round_robin"}} {
		p := New(Config{XDSAddr: srv.Addr, NodeID: "proxy-test", VIPs: &noVIPs{set: map[netip.Addr]bool{}}, Balance: tc.balance})
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- p.Run(ctx) }()
		testenv.Eventually(t, 10*time.Second, "both clusters", func() error {
			got := map[string]string{}
			for _, c := range p.BalancerStates() {
				got[strings.SplitN(c.Name, ".", 2)[0]] = c.Balance
			}
			if got["ll"] != tc.ll || got["rr"] != tc.rr {
				return fmt.Errorf("balance %s/%s, want %s/%s", got["ll"], got["rr"], tc.ll, tc.rr)
			}
			return nil
		})
		cancel()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
}

// TestAdminEndpoint: not ready before a configuration; then the dump shows
// what the control plane sent and the endpoints' states.
func TestAdminEndpoint(t *testing.T) {
	port := uint16(testenv.FreePort(t, "127.0.0.61", "127.0.0.71"))
	tcpBackend(t, "127.0.0.71", port, "a")
	srv := xdstest.StartServer(t, "127.0.0.1:0")
	p := New(Config{XDSAddr: srv.Addr, NodeID: "proxy-test", VIPs: &noVIPs{set: map[netip.Addr]bool{}}})
	admin := httptest.NewServer(p.adminHandler())
	defer admin.Close()
	if res, err := http.Get(admin.URL + "/ready"); err != nil || res.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("/ready before any configuration: %v %v", res.StatusCode, err)
	}
	srv.Feed(t, service("tcp", "127.0.0.61", port, "tcp", "", port, "127.0.0.71"))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	defer func() { cancel(); <-done }()
	ps := strconv.Itoa(int(port))
	testenv.Eventually(t, 10*time.Second, "the service", answers(l4Get, "127.0.0.61:"+ps, "a"))

	res, err := http.Get(admin.URL + "/ready")
	if err != nil || res.StatusCode != http.StatusOK {
		t.Fatalf("/ready after the configuration: %v %v", res.StatusCode, err)
	}
	var dump ConfigDump
	getJSON(t, admin.URL+"/config_dump", &dump)
	if l, ok := dump.Listeners["127.0.0.61_"+ps]; !ok || l.Cluster != "tcp.default.svc.cluster.local:"+ps {
		t.Errorf("config dump listeners: %+v", dump.Listeners)
	}
	if dump.Versions["listener"] == "" || dump.Versions["endpoints"] == "" || dump.NodeID != "proxy-test" {
		t.Errorf("config dump versions %v node %q", dump.Versions, dump.NodeID)
	}
	var clusters []BalancerState
	getJSON(t, admin.URL+"/clusters", &clusters)
	if len(clusters) != 1 || len(clusters[0].Endpoints) != 1 || clusters[0].Endpoints[0].Addr.String() != "127.0.0.71:"+ps || clusters[0].Endpoints[0].Weight == 0 {
		t.Errorf("clusters: %+v", clusters)
	}
	reg := prometheus.NewRegistry()
	if err := p.RegisterMetrics(reg); err != nil {
		t.Fatal(err)
	}
	want := `
# HELP shoal_proxy_endpoints Endpoints of each service the proxy balances over, by state: ready (taking new work), draining (finishing what it has), ejected (by outlier detection after consecutive failures).
# TYPE shoal_proxy_endpoints gauge
shoal_proxy_endpoints{service="tcp.default.svc.cluster.local:` + ps + `",state="draining"} 0
shoal_proxy_endpoints{service="tcp.default.svc.cluster.local:` + ps + `",state="ejected"} 0
shoal_proxy_endpoints{service="tcp.default.svc.cluster.local:` + ps + `",state="ready"} 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "shoal_proxy_endpoints"); err != nil {
		t.Error(err)
	}
	var listeners []ListenerState
	getJSON(t, admin.URL+"/listeners", &listeners)
	if len(listeners) != 1 || listeners[0].Protocol != "tcp" || listeners[0].Addr.String() != "127.0.0.61:"+ps {
		t.Errorf("listeners: %+v", listeners)
	}
}

func getJSON(t *testing.T, url string, v any) {
	t.Helper()
	res, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if err := json.NewDecoder(res.Body).Decode(v); err != nil {
		t.Fatalf("%s: %v", url, err)
	}
}

// TestUDPService: a UDP Service port is served on its VIP, each client's
// datagrams reach an endpoint and the answers come back.
func TestUDPService(t *testing.T) {
	port := uint16(testenv.FreePort(t, "127.0.0.61", "127.0.0.71"))
	pc, err := net.ListenPacket("udp", net.JoinHostPort("127.0.0.71", strconv.Itoa(int(port))))
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	go func() { // echo, prefixed
		buf := make([]byte, 1500)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			pc.WriteTo(append([]byte("echo "), buf[:n]...), from)
		}
	}()
	svc := service("dns", "127.0.0.61", port, "dns", "", port, "127.0.0.71")
	svc.Service.Spec.Ports[0].Protocol = corev1.ProtocolUDP
	udp := corev1.ProtocolUDP
	svc.Slices[0].Ports[0].Protocol = &udp
	srv := xdstest.StartServer(t, "127.0.0.1:0")
	srv.Feed(t, svc)
	runProxy(t, srv.Addr, FollowCluster)

	vip := net.JoinHostPort("127.0.0.61", strconv.Itoa(int(port)))
	testenv.Eventually(t, 10*time.Second, "an answer through the UDP VIP", func() error {
		c, err := net.Dial("udp", vip)
		if err != nil {
			return err
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(200 * time.Millisecond))
		if _, err := c.Write([]byte("query")); err != nil {
			return err
		}
		buf := make([]byte, 100)
		n, err := c.Read(buf)
		if err != nil {
			return err
		}
		if got := string(buf[:n]); got != "echo query" {
			return fmt.Errorf("answer %q", got)
		}
		return nil
	})
}
