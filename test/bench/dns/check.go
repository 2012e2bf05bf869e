package main

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/miekg/dns"
)

// tally counts the queries of one kind a server was asked and how many it
// answered wrongly (rcode or answer count) or not at all.
type tally struct {
	checked, wrong, lost int
	truncated            int    // over UDP, so asked again over TCP
	example              string // the first wrong answer
}

// checkAnswers asks addr every distinct query of qs once, as dnsperf asks
// (UDP, no EDNS), and checks each answer's rcode and answer count; an
// answer truncated to fit 512 bytes is asked again over TCP, as a client
// would, and that whole answer checked.
func checkAnswers(addr string, qs *querySet) map[string]*tally {
	keys := make([]string, 0, len(qs.expect))
	for k := range qs.expect {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	out := map[string]*tally{}
	for _, k := range queryKinds {
		out[k] = &tally{}
	}
	var mu sync.Mutex
	work := make(chan string)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			c := map[string]*dns.Client{
				"udp": {Net: "udp", Timeout: 2 * time.Second},
				"tcp": {Net: "tcp", Timeout: 2 * time.Second},
			}
			for k := range work {
				e := qs.expect[k]
				truncated, err := checkOne(c, addr, k, e)
				mu.Lock()
				t := out[e.kind]
				t.checked++
				if truncated {
					t.truncated++
				}
				switch {
				case errors.Is(err, errLost):
					t.lost++
				case err != nil:
					t.wrong++
					if t.example == "" {
						t.example = err.Error()
					}
				}
				mu.Unlock()
			}
		})
	}
	for _, k := range keys {
		work <- k
	}
	close(work)
	wg.Wait()
	return out
}

var errLost = errors.New("no answer")

// checkOne asks addr the query "name TYPE" over UDP (tried 3 times if no
// answer), and over TCP if the answer was truncated.
func checkOne(c map[string]*dns.Client, addr, query string, e expected) (truncated bool, err error) {
	name, typ, _ := strings.Cut(query, " ")
	m := new(dns.Msg)
	m.SetQuestion(name, dns.StringToType[typ])
	r, err := exchange(c["udp"], m, addr)
	if err == nil && r.Truncated {
		truncated = true
		r, err = exchange(c["tcp"], m, addr)
	}
	if err != nil {
		return truncated, fmt.Errorf("%s: %w: %v", query, errLost, err)
	}
	if r.Rcode != e.rcode || len(r.Answer) != e.answers {
		return truncated, fmt.Errorf("%s: %s with %d answers, want %s with %d", query,
			dns.RcodeToString[r.Rcode], len(r.Answer), dns.RcodeToString[e.rcode], e.answers)
	}
	return truncated, nil
}

func exchange(c *dns.Client, m *dns.Msg, addr string) (r *dns.Msg, err error) {
	for range 3 {
		if r, _, err = c.Exchange(m, addr); err == nil {
			return r, nil
		}
	}
	return nil, err
}

// wrong sums the wrong and unanswered queries of a check.
func wrong(c map[string]*tally) int {
	n := 0
	for _, t := range c {
		n += t.wrong + t.lost
	}
	return n
}

// checkRcodes checks the response codes of a throughput run: only NOERROR
// and NXDOMAIN, NXDOMAIN in the share the query file has (within a point:
// dnsperf stops part-way through a pass over the file).
func checkRcodes(r result, qs *querySet) error {
	total := 0
	for _, n := range r.rcodes {
		total += n
	}
	if total == 0 {
		return errors.New("no response codes reported")
	}
	for rc, n := range r.rcodes {
		if rc != "NOERROR" && rc != "NXDOMAIN" {
			return fmt.Errorf("%d answers %s", n, rc)
		}
	}
	if got, want := float64(r.rcodes["NXDOMAIN"])/float64(total), qs.nxShare(); got < want-0.01 || got > want+0.01 {
		return fmt.Errorf("NXDOMAIN for %.1f%% of the answers, want %.1f%%", 100*got, 100*want)
	}
	return nil
}
