package main

import (
	"context"
	"fmt"
	"os"
	"runtime/pprof"
	"syscall"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/shoalmesh/shoal/test/bench/benchenv"
)

// A write measurement: etcd puts or API creates, sequential or c-way.
const (
	etcdSeq = iota
	etcdPar
	bareSeq // Services without a selector: no controller writes for them
	barePar
	selSeq // with a selector: the controllers write an EndpointSlice and Endpoints
	selPar
	kinds
)

// sample is one measurement: its throughput and the process's CPU time.
type sample struct {
	t   throughput
	cpu time.Duration
}

func (s sample) cpuPerOp() time.Duration { return s.cpu / time.Duration(max(s.t.n, 1)) }

// writes are every round's samples of each kind.
type writes [kinds][]sample

func (ws writes) perSecond(k int) benchenv.Spread {
	var xs []float64
	for _, s := range ws[k] {
		xs = append(xs, s.t.perSecond())
	}
	return benchenv.SpreadOf(xs)
}

func (ws writes) cpuPerOp(k int) benchenv.Spread {
	var xs []float64
	for _, s := range ws[k] {
		xs = append(xs, float64(s.cpuPerOp().Microseconds()))
	}
	return benchenv.SpreadOf(xs)
}

// ratio is the API's throughput over etcd's, per round: the spread of the
// rounds' ratios.
func (ws writes) ratio(api, etcd int) benchenv.Spread {
	var xs []float64
	for i := range min(len(ws[api]), len(ws[etcd])) {
		xs = append(xs, 100*ws[api][i].t.perSecond()/ws[etcd][i].t.perSecond())
	}
	return benchenv.SpreadOf(xs)
}

// processCPU is this process's user plus system time so far.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		fmt.Fprintln(os.Stderr, "bench: getrusage:", err)
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// timed runs f and adds its throughput and CPU time to ws[k].
func (ws *writes) timed(k int, f func() (throughput, error)) error {
	cpu0 := processCPU()
	t, err := f()
	if err != nil {
		return err
	}
	ws[k] = append(ws[k], sample{t: t, cpu: processCPU() - cpu0})
	return nil
}

// measureWrites runs r.rounds rounds of: etcd and API sequentially, etcd
// and API c-way (each pair in the other order every other round), then the
// API with selectors sequentially and c-way. Each API measurement is then
// checked against etcd (all n Services stored), and the round's Services
// and keys are deleted before the next.
func (r *report) measureWrites(ctx context.Context, cli *clientv3.Client, api *apiClients) error {
	if err := api.warmUp(ctx, "warm"); err != nil {
		return err
	}
	if _, err := etcdPuts(ctx, cli, "/bench/etcd/warm/", 50, r.c); err != nil {
		return err
	}
	n, c := r.n, r.c
	for round := range r.rounds {
		name := func(kind string) string { return fmt.Sprintf("r%d-%s", round, kind) }
		etcd := func(k, conc int) func() error {
			return func() error {
				return r.writes.timed(k, func() (throughput, error) {
					return etcdPuts(ctx, cli, "/bench/etcd/"+name("puts")+fmt.Sprint(conc)+"/", n, conc)
				})
			}
		}
		apiCreates := func(k, conc int, selector bool, kind string) func() error {
			return func() error {
				err := r.writes.timed(k, func() (throughput, error) {
					if k == barePar && round == 0 && r.cpuProfile != "" {
						stop, err := startProfile(r.cpuProfile)
						if err != nil {
							return throughput{}, err
						}
						defer stop()
					}
					return api.createServices(ctx, name(kind), n, conc, selector)
				})
				if err != nil {
					return err
				}
				return checkStored(ctx, cli, name(kind), n)
			}
		}
		pairs := [][2]func() error{
			{etcd(etcdSeq, 1), apiCreates(bareSeq, 1, false, "bare-seq")},
			{etcd(etcdPar, c), apiCreates(barePar, c, false, "bare-par")},
		}
		for _, p := range pairs {
			first, second := p[0], p[1]
			if round%2 == 1 {
				first, second = second, first
			}
			if err := first(); err != nil {
				return err
			}
			if err := second(); err != nil {
				return err
			}
		}
		if err := apiCreates(selSeq, 1, true, "sel-seq")(); err != nil {
			return err
		}
		if err := apiCreates(selPar, c, true, "sel-par")(); err != nil {
			return err
		}
		fmt.Fprintf(os.Stderr, "bench: round %d: etcd %.0f/%.0f, API %.0f/%.0f, with selector %.0f/%.0f writes/s (sequential/%d-way)\n",
			round+1, last(r.writes[etcdSeq]), last(r.writes[etcdPar]), last(r.writes[bareSeq]), last(r.writes[barePar]),
			last(r.writes[selSeq]), last(r.writes[selPar]), c)
		// The next round starts from the same cluster, untimed.
		for _, kind := range []string{"bare-seq", "bare-par", "sel-seq", "sel-par"} {
			if err := api.deleteServices(ctx, name(kind), n, c); err != nil {
				return err
			}
		}
		dctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		_, err := cli.Delete(dctx, "/bench/etcd/", clientv3.WithPrefix())
		cancel()
		if err != nil {
			return fmt.Errorf("delete the etcd keys: %w", err)
		}
	}
	// One Service left standing, for its stored size.
	return api.create(ctx, 0, "kept", false)
}

func last(ss []sample) float64 { return ss[len(ss)-1].t.perSecond() }

// checkStored checks that etcd holds the n Services prefix-NNNNNN.
func checkStored(ctx context.Context, cli *clientv3.Client, prefix string, n int) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	key := "/registry/services/specs/" + benchNS + "/" + prefix + "-"
	resp, err := cli.Get(ctx, key, clientv3.WithPrefix(), clientv3.WithCountOnly())
	if err != nil {
		return fmt.Errorf("count %s: %w", key, err)
	}
	if resp.Count != int64(n) {
		return fmt.Errorf("etcd holds %d Services %s*, want %d", resp.Count, key, n)
	}
	return nil
}

// startProfile starts a CPU profile into file; stop ends it.
func startProfile(file string) (stop func(), err error) {
	f, err := os.Create(file)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("cpu profile: %w", err)
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}, nil
}
