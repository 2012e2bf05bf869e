package main

import (
	"bufio"
	"fmt"
	"math/rand/v2"
	"os"

	"github.com/miekg/dns"
)

// queryLines is how many lines the dnsperf input has; dnsperf loops over it.
const queryLines = 20000

// expected is the answer a query must get from both servers: its rcode and
// how many records the answer section holds, and the kind of query it is
// (what the correctness table counts by).
type expected struct {
	kind    string
	rcode   int
	answers int
}

// queryKinds are the kinds of writeQueries, in the order the report lists
// them.
var queryKinds = []string{"A", "A headless", "SRV", "SRV headless", "PTR", "A NXDOMAIN"}

// querySet is dnsperf's input and what each of its queries must get, keyed
// by "name TYPE" as dnsperf prints them with -v.
type querySet struct {
	path   string
	expect map[string]expected
	lines  map[string]int // lines of each kind in the file
}

// writeQueries writes dnsperf's input: 40% A of a service (a tenth of them
// headless, answered with every endpoint), 20% SRV of its named port, 20%
// PTR of a cluster IP, 20% A of a name that does not exist (NXDOMAIN), in a
// fixed pseudo-random order.
func writeQueries(path string, objs []object) (*querySet, error) {
	qs := &querySet{path: path, expect: map[string]expected{}, lines: map[string]int{}}
	byIP := map[string]object{}
	var ips []string
	for _, o := range objs {
		if o.clusterIP != "" {
			ips = append(ips, o.clusterIP)
			byIP[o.clusterIP] = o
		}
	}
	rng := rand.New(rand.NewPCG(4, 2))
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	w := bufio.NewWriter(f)
	for range queryLines {
		o := objs[rng.IntN(len(objs))]
		// A headless service answers A and SRV with a record per endpoint.
		perService, headless := 1, ""
		if o.clusterIP == "" {
			perService, headless = o.endpoints, " headless"
		}
		var q string
		var e expected
		switch p := rng.IntN(10); {
		case p < 4:
			q, e = o.fqdn()+" A", expected{"A" + headless, dns.RcodeSuccess, perService}
		case p < 6:
			q, e = "_http._tcp."+o.fqdn()+" SRV", expected{"SRV" + headless, dns.RcodeSuccess, perService}
		case p < 8:
			rev, err := dns.ReverseAddr(ips[rng.IntN(len(ips))])
			if err != nil {
				return nil, err
			}
			q, e = rev+" PTR", expected{"PTR", dns.RcodeSuccess, 1}
		default:
			q, e = fmt.Sprintf("nope-%d.%s.svc.cluster.local. A", rng.IntN(1000), o.namespace), expected{"A NXDOMAIN", dns.RcodeNameError, 0}
		}
		qs.expect[q] = e
		qs.lines[e.kind]++
		fmt.Fprintln(w, q)
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return nil, err
	}
	return qs, f.Close()
}

// nxShare is the share of the file's lines that must get NXDOMAIN.
func (qs *querySet) nxShare() float64 {
	return float64(qs.lines["A NXDOMAIN"]) / queryLines
}
