package resolver_test

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// drop is the outcome of a packet the server does not answer.
const drop = -1

// dropWait is how long a UDP client waits before taking silence for a drop.
const dropWait = 300 * time.Millisecond

// send writes raw to addr over network (TCP with its length prefix) and
// returns the answer's rcode (extended rcodes included), or drop.
func send(network, addr string, raw []byte) (int, error) {
	conn, err := net.Dial(network, addr)
	if err != nil {
		return 0, err
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(dropWait))
	if network == "tcp" {
		raw = append(binary.BigEndian.AppendUint16(nil, uint16(len(raw))), raw...)
	}
	if _, err := conn.Write(raw); err != nil {
		return 0, err
	}
	buf := make([]byte, 65535)
	var n int
	if network == "tcp" {
		if _, err = io.ReadFull(conn, buf[:2]); err == nil {
			n = int(binary.BigEndian.Uint16(buf[:2]))
			_, err = io.ReadFull(conn, buf[:n])
		}
	} else {
		n, err = conn.Read(buf)
	}
	var ne net.Error
	if errors.Is(err, io.EOF) || errors.Is(err, os.ErrDeadlineExceeded) || errors.As(err, &ne) && ne.Timeout() {
		return drop, nil
	}
	if err != nil {
		return 0, err
	}
	if n < 12 || buf[2]&0x80 == 0 {
		return 0, fmt.Errorf("answer of %d bytes is not a DNS response: %x", n, buf[:n])
	}
	rcode := int(buf[3] & 0x0f)
	m := new(dns.Msg)
	if m.Unpack(buf[:n]) == nil {
		rcode = m.Rcode // with the EDNS0 extended bits
	}
	return rcode, nil
}

func pack(t testing.TB, m *dns.Msg) []byte {
	t.Helper()
	raw, err := m.Pack()
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

func query(name string, qtype, qclass uint16) *dns.Msg {
	m := new(dns.Msg)
	m.SetQuestion(name, qtype)
	m.Question[0].Qclass = qclass
	return m
}

// header is a query header with the given counts.
func header(id, flags, qd, an, ns, ar uint16) []byte {
	var b []byte
	for _, v := range []uint16{id, flags, qd, an, ns, ar} {
		b = binary.BigEndian.AppendUint16(b, v)
	}
	return b
}

// question is a question section of raw wire-format name, type A, class IN.
func question(name []byte) []byte { return append(name, 0, 1, 0, 1) }

// labels is a wire-format name of n labels of size bytes each.
func labels(n, size int) []byte {
	var b []byte
	for range n {
		b = append(b, byte(size))
		b = append(b, strings.Repeat("a", size)...)
	}
	return append(b, 0)
}

func TestResolverBadInput(t *testing.T) {
	cr := startClusterResolver(t)
	addr := cr.defaults.Addr
	svc := "kubernetes.default.svc.cluster.local."
	rng := rand.New(rand.NewPCG(1, 2))
	garbage := make([]byte, 300)
	for i := range garbage {
		garbage[i] = byte(rng.IntN(256))
	}
	twoQuestions := query(svc, dns.TypeA, dns.ClassINET)
	twoQuestions.Question = append(twoQuestions.Question, dns.Question{Name: "x." + svc, Qtype: dns.TypeA, Qclass: dns.ClassINET})
	update := query("cluster.local.", dns.TypeSOA, dns.ClassINET)
	update.Opcode = dns.OpcodeUpdate
	status := query(svc, dns.TypeA, dns.ClassINET)
	status.Opcode = dns.OpcodeStatus
	badEDNS := query(svc, dns.TypeA, dns.ClassINET)
	badEDNS.SetEdns0(1232, false)
	badEDNS.IsEdns0().SetVersion(1)
	response := query(svc, dns.TypeA, dns.ClassINET)
	response.Response = true
	loop := append(header(7, 0x0100, 1, 0, 0, 0), 0xc0, 12, 0, 1, 0, 1) // a name that points at itself

	tests := []struct {
		name string
		raw  []byte
		want []int // acceptable outcomes: rcodes or drop
	}{
		{"empty", nil, []int{drop}},
		{"shorter than a header", []byte{1, 2, 3, 4, 5}, []int{drop}},
		// miekg/dns takes a question count that the packet does not carry
		// for a lie and unpacks no question; CoreDNS's server answers every
		// question-less query it is handed with SERVFAIL.
		{"header without its question", header(1, 0x0100, 1, 0, 0, 0), []int{drop, dns.RcodeFormatError, dns.RcodeServerFailure}},
		{"question cut short", append(header(2, 0x0100, 1, 0, 0, 0), 10, 'k', 'u', 'b'), []int{drop, dns.RcodeFormatError}},
		{"garbage", garbage, []int{drop, dns.RcodeFormatError, dns.RcodeNotImplemented}},
		{"compression loop", loop, []int{drop, dns.RcodeFormatError}},
		{"name over 255 octets", append(header(3, 0x0100, 1, 0, 0, 0), question(labels(5, 60))...), []int{drop, dns.RcodeFormatError}},
		{"label over 63 octets", append(header(4, 0x0100, 1, 0, 0, 0), question(labels(1, 64))...), []int{drop, dns.RcodeFormatError}},
		{"no question", header(5, 0x0100, 0, 0, 0, 0), []int{dns.RcodeFormatError}},
		{"two questions", pack(t, twoQuestions), []int{dns.RcodeFormatError}},
		{"1000 questions claimed", append(header(6, 0x0100, 1000, 0, 0, 0), question(labels(1, 3))...), []int{dns.RcodeFormatError}},
		{"class CHAOS in the cluster zone", pack(t, query(svc, dns.TypeA, dns.ClassCHAOS)), []int{dns.RcodeRefused}},
		{"class HESIOD in the cluster zone", pack(t, query(svc, dns.TypeA, dns.ClassHESIOD)), []int{dns.RcodeRefused}},
		{"ANY", pack(t, query(svc, dns.TypeANY, dns.ClassINET)), []int{dns.RcodeSuccess, dns.RcodeNotImplemented, dns.RcodeRefused}},
		{"AXFR", pack(t, query("cluster.local.", dns.TypeAXFR, dns.ClassINET)), []int{dns.RcodeRefused}},
		{"IXFR", pack(t, query("cluster.local.", dns.TypeIXFR, dns.ClassINET)), []int{dns.RcodeRefused}},
		{"AXFR of a service", pack(t, query(svc, dns.TypeAXFR, dns.ClassINET)), []int{dns.RcodeRefused}},
		{"opcode UPDATE", pack(t, update), []int{dns.RcodeNotImplemented}},
		{"opcode STATUS", pack(t, status), []int{dns.RcodeNotImplemented}},
		{"EDNS version 1", pack(t, badEDNS), []int{dns.RcodeBadVers}},
		{"a response, not a query", pack(t, response), []int{drop}},
	}
	for _, network := range []string{"udp", "tcp"} {
		for _, tt := range tests {
			t.Run(network+"/"+tt.name, func(t *testing.T) {
				got, err := send(network, addr, tt.raw)
				if err != nil {
					t.Fatal(err)
				}
				if !slices.Contains(tt.want, got) {
					t.Errorf("got %s, want one of %s", outcome(got), outcomes(tt.want))
				}
				// The server still answers.
				if _, err := cr.kubernetesA(network); err != nil {
					t.Fatalf("after %s: %v", tt.name, err)
				}
			})
		}
	}

	t.Run("tcp/length prefix longer than the message", func(t *testing.T) {
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		conn.Write([]byte{0x01, 0xf4, 1, 2, 3}) // says 500, sends 3, then hangs up
		conn.Close()
		if _, err := cr.kubernetesA("tcp"); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("tcp/many queries on one connection", func(t *testing.T) {
		c := &dns.Client{Net: "tcp", Timeout: 2 * time.Second}
		conn, err := c.Dial(addr)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		for i := range 200 {
			r, _, err := c.ExchangeWithConn(query(svc, dns.TypeA, dns.ClassINET), conn)
			if err != nil || r.Rcode != dns.RcodeSuccess {
				t.Fatalf("query %d on one connection: %v %v", i, r, err)
			}
		}
	})
}

func outcome(o int) string {
	if o == drop {
		return "a drop"
	}
	return dns.RcodeToString[o]
}

func outcomes(os []int) string {
	var s []string
	for _, o := range os {
		s = append(s, outcome(o))
	}
	return strings.Join(s, ", ")
}
