package testenv

import (
	"fmt"
	"net"
	"strconv"
	"sync"
	"testing"
)

// FreePort is a port nothing listens on, for TCP or UDP, on every one of ips
// (127.0.0.1 if none) at the time of the call, and never handed out before
// in this process: the kernel may offer a port again as soon as the probe
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
	for range 50 {
		ln, err := net.Listen("tcp", net.JoinHostPort(ips[0], "0"))
		if err != nil {
			return 0, fmt.Errorf("find a free port: %w", err)
		}
		port := ln.Addr().(*net.TCPAddr).Port
		ln.Close()
		if free(port, ips) && firstTime(port) {
			return port, nil
		}
	}
	return 0, fmt.Errorf("find a free port: none free for TCP and UDP on all of %v in 50 tries", ips)
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
