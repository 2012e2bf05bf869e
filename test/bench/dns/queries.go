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

// writeQueries writes dnsperf's input: 40% A of a service (a tenth of them
// headless, answered with every endpoint), 20% SRV of its named port, 20%
// PTR of a cluster IP, 20% A of a name that does not exist (NXDOMAIN), in a
// fixed pseudo-random order.
func writeQueries(path string, objs []object) error {
	var ips []string
	for _, o := range objs {
		if o.clusterIP != "" {
			ips = append(ips, o.clusterIP)
		}
	}
	rng := rand.New(rand.NewPCG(4, 2))
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := bufio.NewWriter(f)
	for range queryLines {
		o := objs[rng.IntN(len(objs))]
		switch p := rng.IntN(10); {
		case p < 4:
			fmt.Fprintf(w, "%s A\n", o.fqdn())
		case p < 6:
			fmt.Fprintf(w, "_http._tcp.%s SRV\n", o.fqdn())
		case p < 8:
			rev, err := dns.ReverseAddr(ips[rng.IntN(len(ips))])
			if err != nil {
				return err
			}
			fmt.Fprintf(w, "%s PTR\n", rev)
		default:
			fmt.Fprintf(w, "nope-%d.%s.svc.cluster.local. A\n", rng.IntN(1000), o.namespace)
		}
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
