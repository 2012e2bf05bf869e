package testenv

import (
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// FreePort is a port nothing listens on, for TCP or UDP, on every one of ips
// (127.0.0.1 if none) at the time of the call, below the kernel's ephemeral
// range (see listenRange), and never handed out before in this process: the kernel may offer a port again as soon as the probe
// closes it, and two servers of one test would then collide. For a server a
// test starts on a port it must know before (a DNS server listens on both
// protocols), for endpoints that share a port on several loopback
// addresses as pods do, and for an address nothing answers.
func FreePort(t testing.TB, ips ...string) int {
	t.Helper()
	port, err := FindPort(ips...)
	if err != nil {
		t.Fatal(err)
	}
	return port
}

// FreeAddr is 127.0.0.1:FreePort(t).
func FreeAddr(t testing.TB) string {
	t.Helper()
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(FreePort(t)))
}

// FindPort is FreePort for programs without a testing.TB (benchmarks).
func FindPort(ips ...string) (int, error) {
	if len(ips) == 0 {
		ips = []string{"127.0.0.1"}
	}
	lo, hi := listenRange()
	for range 100 {
		port := lo + rand.IntN(hi-lo)
		if free(port, ips) && firstTime(port) {
			return port, nil
		}
	}
	return 0, fmt.Errorf("find a free port: none free for TCP and UDP on all of %v in 100 tries in %d-%d", ips, lo, hi-1)
}

// listenRange is where FreePort picks: ports [lo, hi) below the kernel's
// ephemeral range. A port the kernel hands out for ":0" is one it also hands
// out for outgoing connections, and in a busy test run (many processes,
// many connections) one of those may take it between the pick and the
// server's listen; below the range only another test's pick can.
func listenRange() (lo, hi int) {
	lo, hi = 20000, 32768 // below Linux's default ephemeral range, 32768-60999
	if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
		if f := strings.Fields(string(b)); len(f) == 2 {
			if eph, err := strconv.Atoi(f[0]); err == nil && eph > lo+1000 {
				hi = min(eph, 65536)
			}
		}
	}
	return lo, hi
}

// free reports whether port can be bound for TCP and for UDP on every ip.
func free(port int, ips []string) bool {
	for _, ip := range ips {
		addr := net.JoinHostPort(ip, strconv.Itoa(port))
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			return false
		}
		ln.Close()
		pc, err := net.ListenPacket("udp", addr)
		if err != nil {
			return false
		}
		pc.Close()
	}
	return true
}

var (
	handedOutMu sync.Mutex
	handedOut   = map[int]bool{}
)

// firstTime records port as handed out and reports whether it was not yet.
func firstTime(port int) bool {
	handedOutMu.Lock()
	defer handedOutMu.Unlock()
	if handedOut[port] {
		return false
	}
	handedOut[port] = true
	return true
}
