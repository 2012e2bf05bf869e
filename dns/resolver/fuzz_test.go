package resolver_test

import (
	"encoding/binary"
	"errors"
	"io"
	"net"
	"os"
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
		// TCP: the input, then a probe on the same connection. The server
		// answers a connection's messages in order, so every reply to the
		// input arrives before the probe's answer and is checked; none is
		// left unread. A server that hangs up on the input must answer the
		// probe on a new connection.
		probeID = nextProbeID(probeID, raw)
		if !tcpProbe(t, addr, raw, probeID) && !tcpProbe(t, addr, nil, probeID) {
			t.Fatalf("the server hung up on a lone query over TCP after input %x", raw)
		}

		// UDP: the input, then a probe; read until the probe's answer.
		udp.Write(raw)
		probeID = nextProbeID(probeID, raw)
		udp.Write(probe(t, probeID))
		udp.SetReadDeadline(time.Now().Add(5 * time.Second))
		buf := make([]byte, 65535)
		for {
			n, err := udp.Read(buf)
			if err != nil {
				t.Fatalf("no answer to a query after input %x: %v", raw, err)
			}
			if isProbeAnswer(t, buf[:n], probeID, raw) {
				return
			}
			checkReply(t, "udp", buf[:n])
		}
	})
}

// nextProbeID is the id after id that the input does not carry, so that
// a reply to the input is never taken for the probe's.
func nextProbeID(id uint16, input []byte) uint16 {
	id++
	if len(input) >= 2 && binary.BigEndian.Uint16(input) == id {
		id++
	}
	return id
}

// probe is the query that must be answered after every input.
func probe(t *testing.T, id uint16) []byte {
	m := query("kubernetes.default.svc.cluster.local.", dns.TypeA, dns.ClassINET)
	m.Id = id
	return pack(t, m)
}

// isProbeAnswer reports whether reply is the answer to probe id, failing t
// if it has the id but is not a good answer.
func isProbeAnswer(t *testing.T, reply []byte, id uint16, input []byte) bool {
	t.Helper()
	if len(reply) < 2 || binary.BigEndian.Uint16(reply) != id {
		return false
	}
	r := new(dns.Msg)
	err := r.Unpack(reply)
	if err == nil && (len(r.Question) != 1 || r.Question[0].Name != "kubernetes.default.svc.cluster.local.") {
		return false // a late reply to an earlier input that had this id
	}
	if err != nil || r.Rcode != dns.RcodeSuccess || len(r.Answer) != 1 {
		t.Fatalf("bad answer to a query after input %x: %v %v", input, r, err)
	}
	return true
}

// tcpProbe sends input (unless nil) and then probe id on one TCP
// connection, checks every reply up to the probe's answer, and reports
// whether that answer came (false: the server hung up first). No answer
// within 5 s fails t.
func tcpProbe(t *testing.T, addr string, input []byte, id uint16) bool {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatalf("dial tcp: %v", err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(5 * time.Second))
	var out []byte
	if input != nil {
		out = binary.BigEndian.AppendUint16(out, uint16(len(input)))
		out = append(out, input...)
	}
	p := probe(t, id)
	out = binary.BigEndian.AppendUint16(out, uint16(len(p)))
	conn.Write(append(out, p...)) // an error shows as a hang-up below
	for {
		var n [2]byte
		_, err := io.ReadFull(conn, n[:])
		if err == nil {
			reply := make([]byte, binary.BigEndian.Uint16(n[:]))
			if _, err = io.ReadFull(conn, reply); err == nil {
				if isProbeAnswer(t, reply, id, input) {
					return true
				}
				checkReply(t, "tcp", reply)
				continue
			}
		}
		if errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("no answer over TCP within 5 s after input %x", input)
		}
		return false // EOF or reset: the server hung up
	}
}

// checkReply fails t unless reply is a DNS response.
func checkReply(t *testing.T, network string, reply []byte) {
	t.Helper()
	if len(reply) < 12 || reply[2]&0x80 == 0 {
		t.Fatalf("%s reply of %d bytes is not a DNS response: %x", network, len(reply), reply)
	}
}
