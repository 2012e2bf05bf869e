package e2e

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/shoalmesh/shoal/internal/testenv"
	"github.com/shoalmesh/shoal/proxy/proxytest"
	"github.com/shoalmesh/shoal/xds/xdstest"
)

// proxyCPRange is the service range of this test's cluster: its proxy puts
// every ClusterIP on lo, so it must not be the one other tests' clusters
// (10.96.0.0/16) use at the same time.
const proxyCPRange = "10.98.0.0/24"

// testProxyOutlivesControlPlane runs `shoal proxy` against `shoal up`
// (agent off) with selector-less Services whose endpoints are HTTP servers
// of this test on 127.0.0.0/8. Under constant load: the control plane
// stopped, the proxy keeps routing on its last configuration with no
// failed request; restarted on the same data, the proxy resyncs (a new
// Service is served, a removed endpoint gets no more requests); a Service
// whose port is taken is NACKed with the reason while the rest is served.
// Stopped, the proxy takes its VIPs off lo.
func testProxyOutlivesControlPlane(t *testing.T, bin string) {
	testenv.Require(t, testenv.Root) // the proxy puts the ClusterIPs on lo
	t.Cleanup(func() { removeVIPsIn(proxyCPRange) })
	port := testenv.FreePort(t, "127.0.0.81", "127.0.0.82", "127.0.0.83")
	for _, ip := range []string{"127.0.0.81", "127.0.0.82", "127.0.0.83"} {
		proxytest.NameServer(t, net.JoinHostPort(ip, strconv.Itoa(port)), ip)
	}

	dir := t.TempDir()
	addrs := freeAddrs(t)
	up := startShoal(t, bin, dir, addrs, "--service-cidr", proxyCPRange)
	up.waitReady(t)
	cs := up.clientset(t)
	web := createSelectorless(t, cs, "web", "", port, "127.0.0.81", "127.0.0.82")

	px := startProcess(t, bin, "proxy", "--xds", addrs.XDS, "--node-id", "proxy-cp-test", "--admin-addr", testenv.FreeAddr(t))
	testenv.Eventually(t, 20*time.Second, "the proxy serves web", func() error {
		_, err := getBody("http://" + web + "/")
		return err
	})

	l := startLoad(web, 4)
	defer l.stop()
	time.Sleep(time.Second)
	up.signal(t, syscall.SIGTERM)
	if code := up.exit(t, exitTimeout); code != 0 {
		t.Fatalf("shoal up exited with %d", code)
	}
	// The control plane is gone: routing goes on.
	before := l.snapshot().total()
	time.Sleep(2 * time.Second)
	if r := l.snapshot(); r.total()-before < 100 || r.failed != 0 {
		t.Fatalf("with the control plane down: %d requests in 2 s, %d failed (%v)", r.total()-before, r.failed, r.errors)
	}

	// Back on the same data and addresses: the proxy reconnects and
	// follows what changed.
	up = startShoal(t, bin, dir, addrs, "--service-cidr", proxyCPRange)
	up.waitReady(t)
	cs = up.clientset(t)
	web2 := createSelectorless(t, cs, "web2", "", port, "127.0.0.83")
	testenv.Eventually(t, 20*time.Second, "the proxy serves a Service made after the restart", func() error {
		b, err := getBody("http://" + web2 + "/")
		if err == nil && b != "127.0.0.83" {
			err = fmt.Errorf("answered by %s", b)
		}
		return err
	})
	sl, err := cs.DiscoveryV1().EndpointSlices("default").Get(t.Context(), "web-manual", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	sl.Endpoints = sl.Endpoints[:1] // 127.0.0.81 only
	if _, err := cs.DiscoveryV1().EndpointSlices("default").Update(t.Context(), sl, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 20*time.Second, "web's removed endpoint gets nothing", func() error {
		seen := map[string]bool{}
		for range 20 {
			b, err := getBody("http://" + web + "/")
			if err != nil {
				return err
			}
			seen[b] = true
		}
		if len(seen) != 1 || !seen["127.0.0.81"] {
			return fmt.Errorf("answered by %v", seen)
		}
		return nil
	})

	// A Service whose ClusterIP:port something else on the node holds:
	// the proxy NACKs the update (shoal up logs the reason) and goes on
	// serving; once the port is free, the next update is applied whole.
	const busyIP = "10.98.0.200"
	if out, err := exec.Command("ip", "addr", "add", busyIP+"/32", "dev", "lo").CombinedOutput(); err != nil {
		t.Fatalf("ip addr add: %v: %s", err, out)
	}
	blocker, err := net.Listen("tcp", busyIP+":80")
	if err != nil {
		t.Fatal(err)
	}
	defer blocker.Close()
	createSelectorless(t, cs, "busy", busyIP, port, "127.0.0.83")
	testenv.Eventually(t, 20*time.Second, "shoal up logs the proxy's NACK", func() error {
		for _, line := range strings.Split(up.stderr.String(), "\n") {
			if strings.Contains(line, "client rejected configuration") && strings.Contains(line, busyIP+"_80") && strings.Contains(line, "address already in use") {
				return nil
			}
		}
		return errors.New("no NACK naming the listener and the port in use")
	})
	if b, err := getBody("http://" + web2 + "/"); err != nil || b != "127.0.0.83" {
		t.Errorf("web2 after the NACK: %q, %v", b, err)
	}
	if !slices.Contains(vipsIn(busyIP+"/32"), busyIP+"/32") {
		t.Fatalf("the proxy took %s, which it did not put there, off lo", busyIP)
	}
	// A NACKed resource comes again only when it changes (xDS): the
	// Service is made anew once its port is free. Its deletion must be
	// published first: a delete and a create in one round of the xDS feed
	// (it coalesces changes within 20 ms) cancel out, nothing changes, and
	// the NACKed version stays the last word.
	blocker.Close()
	deletes := xdsDeletes(t, cs)
	if err := cs.CoreV1().Services("default").Delete(t.Context(), "busy", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := cs.DiscoveryV1().EndpointSlices("default").Delete(t.Context(), "busy-manual", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 20*time.Second, "busy's xDS resources deleted", func() error {
		if n := xdsDeletes(t, cs); n <= deletes {
			return fmt.Errorf("shoal_xds_resource_deletes_total still %v", n)
		}
		return nil
	})
	createSelectorless(t, cs, "busy", busyIP, port, "127.0.0.83")
	testenv.Eventually(t, 20*time.Second, "the once-busy Service is served once made anew", func() error {
		// (Only while the address is on lo: otherwise the request would
		// leave the machine.)
		if !slices.Contains(vipsIn(busyIP+"/32"), busyIP+"/32") {
			return errors.New(busyIP + " is not on lo")
		}
		b, err := getBody("http://" + busyIP + ":80/")
		if err == nil && b != "127.0.0.83" {
			err = fmt.Errorf("answered by %s", b)
		}
		return err
	})

	r := l.stop()
	t.Logf("under load through a control-plane stop and restart: %d requests, %d failed", r.total(), r.failed)
	if r.failed != 0 {
		t.Errorf("%d requests failed; first errors: %v", r.failed, r.errors)
	}

	px.signal(t, syscall.SIGTERM)
	if code := px.exit(t, exitTimeout); code != 0 {
		t.Errorf("shoal proxy exited with %d", code)
	}
	// busyIP was the test's, and stays; the proxy's own are gone.
	if left := vipsIn(proxyCPRange); !slices.Equal(left, []string{busyIP + "/32"}) {
		t.Errorf("after the proxy stopped lo has %v of %s; want only the test's own %s", left, proxyCPRange, busyIP)
	}
}

// createSelectorless makes a Service without a selector (port 80, named
// http; clusterIP if not empty) and its EndpointSlice of ips on port, and
// returns the ClusterIP's address.
func createSelectorless(t *testing.T, cs kubernetes.Interface, name, clusterIP string, port int, ips ...string) string {
	t.Helper()
	svc := xdstest.Service("default", name, 80, "")
	svc.Spec.Ports[0].Name = "http"
	svc.Spec.ClusterIP = clusterIP
	svc, err := cs.CoreV1().Services("default").Create(t.Context(), svc, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ready := map[string]bool{}
	for _, ip := range ips {
		ready[ip] = true
	}
	sl := xdstest.Slice("default", name, port, ready)
	sl.Ports[0].Name = &svc.Spec.Ports[0].Name
	if _, err := cs.DiscoveryV1().EndpointSlices("default").Create(t.Context(), sl, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	return netip.AddrPortFrom(netip.MustParseAddr(svc.Spec.ClusterIP), 80).String()
}

func getBody(url string) (string, error) {
	return getPod(context.Background(), &http.Client{Timeout: 2 * time.Second}, url)
}

// vipsIn lists the addresses of prefix on lo.
func vipsIn(prefix string) []string {
	p := netip.MustParsePrefix(prefix)
	out, _ := exec.Command("ip", "-o", "-4", "addr", "show", "dev", "lo").Output()
	var vips []string
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		for i := 0; i+1 < len(f); i++ {
			if f[i] != "inet" {
				continue
			}
			if a, err := netip.ParsePrefix(f[i+1]); err == nil && p.Contains(a.Addr()) {
				vips = append(vips, f[i+1])
			}
		}
	}
	return vips
}

// removeVIPsIn takes what a killed proxy left of prefix off lo.
func removeVIPsIn(prefix string) {
	for _, a := range vipsIn(prefix) {
		exec.Command("ip", "addr", "del", a, "dev", "lo").Run()
	}
}

// xdsDeletes is shoal up's shoal_xds_resource_deletes_total, all kinds.
func xdsDeletes(t *testing.T, cs kubernetes.Interface) float64 {
	t.Helper()
	body, err := cs.CoreV1().RESTClient().Get().AbsPath("/metrics").DoRaw(t.Context())
	if err != nil {
		t.Fatalf("read /metrics: %v", err)
	}
	sum := 0.0
	for _, line := range strings.Split(string(body), "\n") {
		if strings.HasPrefix(line, "shoal_xds_resource_deletes_total{") {
			f := strings.Fields(line)
			v, err := strconv.ParseFloat(f[len(f)-1], 64)
			if err != nil {
				t.Fatalf("/metrics: %q: %v", line, err)
			}
			sum += v
		}
	}
	return sum
}
