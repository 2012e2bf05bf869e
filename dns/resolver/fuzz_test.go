package resolver_test

import (
	"encoding/binary"
	"io"
	"net"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// FuzzResolver sends each input as a DNS message over UDP and over TCP to
// the resolver on the built-in Corefile (cluster zone over a running Shoal,
// a test upstream for the rest), then checks that it still answers. A reply
// to the input itself, if any, must be a DNS response. A crash anywhere in
// the query path (miekg/dns's parsing, CoreDNS's server, the plugins) fails
// the run, as the server runs in this process.
func FuzzResolver(f *testing.F) {
	for _, m := range []*dns.Msg{
		query("kubernetes.default.svc.cluster.local.", dns.TypeA, dns.ClassINET),
		query("_https._tcp.kubernetes.default.svc.cluster.local.", dns.TypeSRV, dns.ClassINET),
		query("1.0.96.10.in-addr.arpa.", dns.TypePTR, dns.ClassINET),
		query("nope.default.svc.cluster.local.", dns.TypeAAAA, dns.ClassINET),
		query("10-244-0-1.default.pod.cluster.local.", dns.TypeA, dns.ClassINET),
		query("dns-version.cluster.local.", dns.TypeTXT, dns.ClassINET),
		query("cluster.local.", dns.TypeSOA, dns.ClassINET),
		query("cluster.local.", dns.TypeAXFR, dns.ClassINET),
		query("kubernetes.default.svc.cluster.local.", dns.TypeANY, dns.ClassINET),
		query("kubernetes.default.svc.cluster.local.", dns.TypeA, dns.ClassCHAOS),
		query("www.example.org.", dns.TypeA, dns.ClassINET),
	} {
		f.Add(pack(f, m))
		m.SetEdns0(1232, true)
		f.Add(pack(f, m))
	}
	f.Add([]byte{})
	f.Add(header(1, 0x0100, 1, 0, 0, 0))
	f.Add(append(header(7, 0x0100, 1, 0, 0, 0), 0xc0, 12, 0, 1, 0, 1))
	f.Add(append(header(3, 0x0100, 1, 0, 0, 0), question(labels(5, 60))...))
	f.Add(append(header(6, 0x0100, 2, 0, 0, 0), question(labels(1, 3))...))

	cr := startClusterResolver(f)
	addr := cr.defaults.Addr
	udp, err := net.Dial("udp", addr)
	if err != nil {
		f.Fatal(err)
	}
	defer udp.Close()
	probeID := uint16(0)

	f.Fuzz(func(t *testing.T, raw []byte) {
		if len(raw) > dns.MaxMsgSize {
			raw = raw[:dns.MaxMsgSize]
		}
		// TCP: one message, then the reply, the server hanging up, or (for
		// what it ignores) a short wait; a late reply is not checked.
		if conn, err := net.Dial("tcp", addr); err == nil {
			conn.SetDeadline(time.Now().Add(50 * time.Millisecond))
			conn.Write(append(binary.BigEndian.AppendUint16(nil, uint16(len(raw))), raw...))
			var n [2]byte
			if _, err := io.ReadFull(conn, n[:]); err == nil {
				reply := make([]byte, binary.BigEndian.Uint16(n[:]))
				if _, err := io.ReadFull(conn, reply); err == nil {
					checkReply(t, "tcp", reply)
				}
			}
			conn.Close()
		} else {
			t.Fatalf("dial tcp: %v", err)
		}

		// UDP: the input, then a probe; read until the probe's answer.
		udp.Write(raw)
		probeID++
		probe := query("kubernetes.default.svc.cluster.local.", dns.TypeA, dns.ClassINET)
		probe.Id = probeID
		udp.Write(pack(t, probe))
		udp.SetReadDeadline(time.Now().Add(5 * time.Second))
		buf := make([]byte, 65535)
		for {
			n, err := udp.Read(buf)
			if err != nil {
				t.Fatalf("no answer to a query after input %x: %v", raw, err)
			}
			if n >= 2 && binary.BigEndian.Uint16(buf) == probeID {
				r := new(dns.Msg)
				if err := r.Unpack(buf[:n]); err != nil || r.Rcode != dns.RcodeSuccess || len(r.Answer) != 1 {
					t.Fatalf("bad answer to a query after input %x: %v %v", raw, r, err)
				}
				return
			}
			checkReply(t, "udp", buf[:n])
		}
	})
}

// checkReply fails t unless reply is a DNS response.
func checkReply(t *testing.T, network string, reply []byte) {
	t.Helper()
	if len(reply) < 12 || reply[2]&0x80 == 0 {
		t.Fatalf("%s reply of %d bytes is not a DNS response: %x", network, len(reply), reply)
	}
}
