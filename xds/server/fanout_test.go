package server

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"net"
	"os"
	"os/exec"
	"runtime"
	"runtime/metrics"
	"runtime/pprof"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
)

var heapProfile = flag.String("fanout.heapprofile", "", "BenchmarkFanout writes a heap profile with every client connected to this path (.sotw, .delta)")

func TestMain(m *testing.M) {
	if spec := os.Getenv(fleetEnv); spec != "" {
		if err := runFleet(spec); err != nil {
			fmt.Fprintln(os.Stderr, "fleet:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// BenchmarkFanout measures what one assignment change costs the server
// when 1000 clients, each on its own connection, watch it: CPU time,
// system calls, bytes written and allocations per change, and the heap,
// goroutine stacks and goroutines each connected client holds. The
// clients run in a child process (see fleet_test.go), so every figure is
// the server's own. ns/op is the time from the update to the last client
// having it, which also depends on the child's scheduling.
//
//	go test -run '^$' -bench Fanout -benchtime 200x ./xds/server
func BenchmarkFanout(b *testing.B) {
	for _, mode := range []string{"sotw", "delta"} {
		b.Run(mode, func(b *testing.B) { benchFanout(b, mode, 1000) })
	}
}

// fanoutNames are what each client watches: the hot assignment and four
// that do not change.
var fanoutNames = []string{"svc-0000", "svc-0101", "svc-0202", "svc-0303", "svc-0404"}

func benchFanout(b *testing.B, mode string, n int) {
	if *heapProfile != "" {
		runtime.MemProfileRate = 64 // every object the clients make the server keep
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s := New(ctx, Options{})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	go s.Serve(ln)
	defer s.Stop(time.Second)
	set := map[string]types.Resource{}
	for i := range 1000 {
		name := fmt.Sprintf("svc-%04d", i)
		set[name] = cla(name, tenIPs(i, "")...)
	}
	if err := s.Update(Endpoints, set, nil); err != nil {
		b.Fatal(err)
	}

	before := sampleMemory()
	spec := fmt.Sprintf("%s %d %s %s", ln.Addr(), n, mode, strings.Join(fanoutNames, ","))
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), fleetEnv+"="+spec)
	cmd.Stderr = os.Stderr
	toFleet, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	defer func() { toFleet.Close(); cmd.Wait() }()
	lines := make(chan string)
	go func() {
		defer close(lines)
		for sc := bufio.NewScanner(out); sc.Scan(); {
			lines <- sc.Text()
		}
	}()
	await := func(want string, d time.Duration) {
		b.Helper()
		select {
		case l, ok := <-lines:
			if !ok || l != want {
				b.Fatalf("fleet said %q (open %v), want %q", l, ok, want)
			}
		case <-time.After(d):
			b.Fatalf("fleet did not say %q in %v", want, d)
		}
	}
	await("ready", 2*time.Minute)
	time.Sleep(time.Second) // let the last ACKs settle
	after := sampleMemory()
	if *heapProfile != "" {
		if err := writeHeapProfile(*heapProfile + "." + mode); err != nil {
			b.Fatal(err)
		}
	}

	b.ReportAllocs()
	b.ResetTimer()
	cpu0, io0 := cpuTime(), procIO()
	for i := range b.N {
		ip := fmt.Sprintf("10.1.%d.%d", i/250%250, i%250+1)
		fmt.Fprintf(toFleet, "expect %s\n", ip)
		await("ok", 10*time.Second)
		if err := s.Update(Endpoints, map[string]types.Resource{"svc-0000": cla("svc-0000", tenIPs(0, ip)...)}, nil); err != nil {
			b.Fatal(err)
		}
		await("done", 30*time.Second)
	}
	b.StopTimer()
	cpu, io := cpuTime()-cpu0, procIO()
	per := float64(b.N)
	b.ReportMetric(float64(cpu.Microseconds())/per, "cpu-µs/op")
	b.ReportMetric(float64(io["syscr"]-io0["syscr"])/per, "reads/op")
	b.ReportMetric(float64(io["syscw"]-io0["syscw"])/per, "writes/op")
	b.ReportMetric(float64(io["wchar"]-io0["wchar"])/per, "wbytes/op")
	// After the timed loop: ResetTimer drops metrics reported before it.
	k := float64(n)
	b.ReportMetric((after.heap-before.heap)/k, "heap-B/client")
	b.ReportMetric((after.stacks-before.stacks)/k, "stack-B/client")
	b.ReportMetric((after.goroutines-before.goroutines)/k, "goroutines/client")
}

// tenIPs is assignment i's endpoints; extra, if set, replaces the first.
func tenIPs(i int, extra string) []string {
	ips := make([]string, 10)
	for j := range ips {
		ips[j] = fmt.Sprintf("10.0.%d.%d", i%250, j+1+i/250*10)
	}
	if extra != "" {
		ips[0] = extra
	}
	return ips
}

type memSample struct{ heap, stacks, goroutines float64 }

func sampleMemory() memSample {
	runtime.GC()
	runtime.GC()
	ms := []metrics.Sample{
		{Name: "/memory/classes/heap/objects:bytes"},
		{Name: "/memory/classes/heap/stacks:bytes"},
		{Name: "/sched/goroutines:goroutines"},
	}
	metrics.Read(ms)
	return memSample{float64(ms[0].Value.Uint64()), float64(ms[1].Value.Uint64()), float64(ms[2].Value.Uint64())}
}

func writeHeapProfile(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := pprof.Lookup("heap").WriteTo(f, 0); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// procIO reads /proc/self/io: syscr and syscw count read and write system
// calls of every thread, wchar the bytes written.
func procIO() map[string]int64 {
	out := map[string]int64{}
	b, err := os.ReadFile("/proc/self/io")
	if err != nil {
		return out
	}
	for _, l := range strings.Split(string(b), "\n") {
		k, v, ok := strings.Cut(l, ": ")
		if ok {
			out[k], _ = strconv.ParseInt(v, 10, 64)
		}
	}
	return out
}
