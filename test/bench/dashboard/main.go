// Command dashboard measures how small and fast the dashboard is, against
// `shoal up` as a child process with 100 Services of 3 endpoints each whose
// traffic changes every second (as the xDS replicas publish it):
//
//   - the page's bytes (HTML, script, style), as served (gzip) and raw;
//   - a new viewer's time from opening the stream to its first message, and
//     that message's size;
//   - the API server's CPU per connected dashboard per update: the
//     process's CPU time (/proc/<pid>/stat) over a window with N viewer
//     streams open, minus the same window with none, divided by N and by
//     the messages each stream received; and the bytes of an update.
//
// The viewers use the viewer token, so every message is authorized through
// RBAC as it is for a real user. Run with `make bench-dashboard`; the time
// to first data in a real browser is measured by the browser test
// (TestBrowserLoginLink), which the make target runs too.
package main

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/shoalmesh/shoal/api"
	"github.com/shoalmesh/shoal/controlplane/auth"
	"github.com/shoalmesh/shoal/controlplane/trafficload"
	"github.com/shoalmesh/shoal/test/bench/benchenv"
)

type options struct {
	services, viewers, rounds int
	window                    time.Duration
	bin                       string
}

func main() {
	var o options
	flag.IntVar(&o.services, "services", 100, "Services, of 3 endpoints each")
	flag.IntVar(&o.viewers, "viewers", 50, "dashboard streams open during the measured window")
	flag.IntVar(&o.rounds, "rounds", 3, "measured rounds (idle window, then loaded window, each)")
	flag.DurationVar(&o.window, "window", 10*time.Second, "length of each measured window")
	flag.StringVar(&o.bin, "bin", "", "a shoal binary (default: build ./cmd/shoal)")
	flag.Parse()
	if err := run(o); err != nil {
		fmt.Fprintln(os.Stderr, "bench-dashboard:", err)
		os.Exit(1)
	}
}

func logf(format string, a ...any) { fmt.Fprintf(os.Stderr, "# "+format+"\n", a...) }

func run(o options) error {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	defer cancel()
	load0 := benchenv.LoadAverage()

	logf("building ./cmd/shoal and starting shoal up")
	sh, err := benchenv.StartShoal(ctx, benchenv.ShoalOptions{Prefix: "shoal-bench-dashboard-", Bin: o.bin})
	if err != nil {
		return err
	}
	defer sh.Stop()
	cs, err := kubernetes.NewForConfig(sh.REST)
	if err != nil {
		return err
	}
	tokens, err := auth.LoadOrCreateTokens(filepath.Join(sh.DataDir, "tokens.csv"))
	if err != nil {
		return fmt.Errorf("read the cluster's tokens: %w", err)
	}
	viewer, ok := tokens.TokenFor(auth.ViewerUser)
	if !ok {
		return fmt.Errorf("the cluster has no %s token", auth.ViewerUser)
	}
	tlsCfg, err := rest.TLSConfigFor(&rest.Config{TLSClientConfig: sh.REST.TLSClientConfig})
	if err != nil {
		return err
	}
	b := &bench{o: o, ui: "https://" + sh.APIAddr + "/ui/", token: viewer,
		client: &http.Client{Transport: &http.Transport{TLSClientConfig: tlsCfg, ForceAttemptHTTP2: true, MaxIdleConnsPerHost: o.viewers}}}

	logf("creating %d Services of 3 endpoints", o.services)
	ips, err := createServices(ctx, cs, o.services)
	if err != nil {
		return err
	}
	etcd, err := clientv3.New(clientv3.Config{Endpoints: []string{"http://" + sh.EtcdAddr}, DialTimeout: 5 * time.Second})
	if err != nil {
		return err
	}
	defer etcd.Close()
	pubCtx, stopPub := context.WithCancel(ctx)
	defer stopPub()
	pubDone := make(chan error, 1)
	go func() { pubDone <- publishTraffic(pubCtx, etcd, ips) }()

	page, err := b.pageBytes(ctx)
	if err != nil {
		return err
	}
	first, err := b.firstMessages(ctx, 20)
	if err != nil {
		return err
	}
	var per []float64
	var upd []float64
	var msgs []float64
	for round := range o.rounds {
		logf("round %d: idle window", round+1)
		idle := cpuOver(ctx, sh.Pid(), o.window)
		logf("round %d: %d viewers", round+1, o.viewers)
		busy, got, err := b.loaded(ctx, sh.Pid())
		if err != nil {
			return err
		}
		extra := busy - idle
		per = append(per, float64(extra.Microseconds())/float64(got.messages))
		upd = append(upd, float64(got.bytes)/float64(got.messages))
		msgs = append(msgs, float64(got.messages)/float64(o.viewers)/o.window.Seconds())
		logf("  idle %v, loaded %v, %d messages, %d bytes", idle, busy, got.messages, got.bytes)
	}
	stopPub()
	if err := <-pubDone; err != nil {
		return err
	}

	w := os.Stdout
	fmt.Fprintf(w, "## Dashboard (make bench-dashboard)\n\n")
	fmt.Fprintf(w, "`shoal up` (child process, no agent), %d Services × 3 endpoints whose traffic changes every second, viewer token (RBAC per message); load average %s at start.\n\n", o.services, load0)
	fmt.Fprintf(w, "| measure | value |\n|---|---|\n")
	fmt.Fprintf(w, "| page (HTML + JS + CSS), as served (gzip) | %.1f KB |\n", float64(page.gzip)/1000)
	fmt.Fprintf(w, "| page, uncompressed | %.1f KB |\n", float64(page.raw)/1000)
	fmt.Fprintf(w, "| stream open → first message (all data), median of %d | %s |\n", len(first.times), msec(benchenv.DurationQuantile(first.times, 0.5)))
	fmt.Fprintf(w, "| first message size | %.1f KB |\n", float64(first.size)/1000)
	s, u, m := benchenv.SpreadOf(per), benchenv.SpreadOf(upd), benchenv.SpreadOf(msgs)
	fmt.Fprintf(w, "| server CPU per dashboard per update (%d viewers, %d rounds of %v) | %.0f µs (%.0f–%.0f) |\n", o.viewers, o.rounds, o.window, s.Median, s.Min, s.Max)
	fmt.Fprintf(w, "| update size (every endpoint's traffic changed) | %.1f KB (%.1f–%.1f) |\n", u.Median/1000, u.Min/1000, u.Max/1000)
	fmt.Fprintf(w, "| updates per viewer per second | %.2f |\n", m.Median)
	return nil
}

func msec(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d.Microseconds())/1000) }

type bench struct {
	o      options
	ui     string
	token  string
	client *http.Client
}

type pageSize struct{ raw, gzip int }

// pageBytes fetches the page and its assets as a browser does (gzip) and
// as they are.
func (b *bench) pageBytes(ctx context.Context) (pageSize, error) {
	var p pageSize
	for _, path := range []string{"", "app.js", "app.css"} {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, b.ui+path, nil)
		req.Header.Set("Accept-Encoding", "gzip") // set by hand: the transport then leaves the body compressed
		resp, err := b.client.Do(req)
		if err != nil {
			return p, err
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK {
			return p, fmt.Errorf("GET /ui/%s: %d %v", path, resp.StatusCode, err)
		}
		p.gzip += len(body)
		if resp.Header.Get("Content-Encoding") == "gzip" {
			zr, err := gzip.NewReader(bytes.NewReader(body))
			if err != nil {
				return p, err
			}
			if body, err = io.ReadAll(zr); err != nil {
				return p, err
			}
		}
		p.raw += len(body)
	}
	return p, nil
}

type first struct {
	times []time.Duration
	size  int
}

// firstMessages opens n streams one after another and times each one's
// first message.
func (b *bench) firstMessages(ctx context.Context, n int) (first, error) {
	var f first
	// The API server's caches take a moment to hold every Service created.
	for deadline := time.Now().Add(30 * time.Second); ; {
		s, err := b.open(ctx)
		if err != nil {
			return f, err
		}
		data, err := s.next()
		s.close()
		if err != nil {
			return f, err
		}
		if services(data) >= b.o.services || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	for range n {
		start := time.Now()
		s, err := b.open(ctx)
		if err != nil {
			return f, err
		}
		data, err := s.next()
		s.close()
		if err != nil {
			return f, err
		}
		f.times = append(f.times, time.Since(start))
		f.size = len(data)
		if got := services(data); got < b.o.services {
			return f, fmt.Errorf("the first message carries %d Services, want at least %d", got, b.o.services)
		}
	}
	return f, nil
}

// services counts the Services a stream message sets (-1 if it is not one).
func services(data []byte) int {
	var m struct {
		Services *struct{ Set []json.RawMessage } `json:"services"`
	}
	if err := json.Unmarshal(data, &m); err != nil {
		return -1
	}
	if m.Services == nil {
		return 0
	}
	return len(m.Services.Set)
}

type counts struct{ messages, bytes int64 }

// loaded opens the viewers' streams, waits for each one's first message,
// then counts what they receive over the window and the server's CPU.
func (b *bench) loaded(ctx context.Context, pid int) (time.Duration, counts, error) {
	streams := make([]*stream, 0, b.o.viewers)
	defer func() {
		for _, s := range streams {
			s.close()
		}
	}()
	for range b.o.viewers {
		s, err := b.open(ctx)
		if err != nil {
			return 0, counts{}, err
		}
		if _, err := s.next(); err != nil {
			return 0, counts{}, err
		}
		streams = append(streams, s)
	}
	var msgs, bytes atomic.Int64
	var counting atomic.Bool
	var wg sync.WaitGroup
	for _, s := range streams {
		wg.Go(func() {
			for {
				data, err := s.next()
				if err != nil {
					return
				}
				if counting.Load() {
					msgs.Add(1)
					bytes.Add(int64(len(data)))
				}
			}
		})
	}
	time.Sleep(2 * time.Second) // past the burst of opening
	counting.Store(true)
	cpu := cpuOver(ctx, pid, b.o.window)
	counting.Store(false)
	for _, s := range streams {
		s.close()
	}
	wg.Wait()
	streams = nil
	if msgs.Load() == 0 {
		return 0, counts{}, fmt.Errorf("the viewers received no update in %v", b.o.window)
	}
	return cpu, counts{msgs.Load(), bytes.Load()}, nil
}

func cpuOver(ctx context.Context, pid int, d time.Duration) time.Duration {
	before := benchenv.CPUTime(pid)
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
	return benchenv.CPUTime(pid) - before
}

type stream struct {
	resp   *http.Response
	sc     *bufio.Scanner
	cancel context.CancelFunc
}

func (b *bench) open(ctx context.Context) (*stream, error) {
	ctx, cancel := context.WithCancel(ctx)
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, b.ui+"api/stream", nil)
	req.Header.Set("Authorization", "Bearer "+b.token)
	resp, err := b.client.Do(req)
	if err != nil {
		cancel()
		return nil, fmt.Errorf("open a stream: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		resp.Body.Close()
		cancel()
		return nil, fmt.Errorf("open a stream: %s", resp.Status)
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	return &stream{resp: resp, sc: sc, cancel: cancel}, nil
}

// next is the data of the next state event.
func (s *stream) next() ([]byte, error) {
	event := ""
	for s.sc.Scan() {
		line := s.sc.Text()
		switch {
		case strings.HasPrefix(line, "event: "):
			event = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "data: ") && event == "state":
			return []byte(strings.TrimPrefix(line, "data: ")), nil
		case strings.HasPrefix(line, "data: "):
			return nil, fmt.Errorf("stream event %s: %s", event, line)
		}
	}
	if err := s.sc.Err(); err != nil {
		return nil, err
	}
	return nil, io.EOF
}

func (s *stream) close() { s.cancel(); s.resp.Body.Close() }

// createServices makes n selector-less Services in namespace bench, each
// with an EndpointSlice of 3 ready endpoints, and returns the endpoint IPs.
func createServices(ctx context.Context, cs kubernetes.Interface, n int) ([]string, error) {
	if _, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "bench"}}, metav1.CreateOptions{}); err != nil {
		return nil, fmt.Errorf("create namespace bench: %w", err)
	}
	var mu sync.Mutex
	var ips []string
	err := benchenv.ForEach(n, 8, func(i int) error {
		name := fmt.Sprintf("svc-%03d", i)
		svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: "bench", Name: name},
			Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Port: 80, Protocol: corev1.ProtocolTCP}}}}
		if _, err := cs.CoreV1().Services("bench").Create(ctx, svc, metav1.CreateOptions{}); err != nil {
			return fmt.Errorf("create service %s: %w", name, err)
		}
		port, ready := int32(8080), true
		sl := &discoveryv1.EndpointSlice{ObjectMeta: metav1.ObjectMeta{Namespace: "bench", Name: name,
			Labels: map[string]string{discoveryv1.LabelServiceName: name}},
			AddressType: discoveryv1.AddressTypeIPv4, Ports: []discoveryv1.EndpointPort{{Port: &port}}}
		var mine []string
		for j := range 3 {
			ip := fmt.Sprintf("10.%d.%d.%d", 100+i/250, i%250, j+1)
			mine = append(mine, ip)
			sl.Endpoints = append(sl.Endpoints, discoveryv1.Endpoint{Addresses: []string{ip},
				Conditions: discoveryv1.EndpointConditions{Ready: &ready},
				TargetRef:  &corev1.ObjectReference{Kind: "Pod", Namespace: "bench", Name: fmt.Sprintf("%s-%d", name, j)}})
		}
		if _, err := cs.DiscoveryV1().EndpointSlices("bench").Create(ctx, sl, metav1.CreateOptions{}); err != nil {
			return fmt.Errorf("create endpointslice %s: %w", name, err)
		}
		mu.Lock()
		ips = append(ips, mine...)
		mu.Unlock()
		return nil
	})
	slices.Sort(ips)
	return ips, err
}

// publishTraffic writes a traffic report for every endpoint once a second,
// as an xDS replica does, each time with new figures, until ctx ends.
func publishTraffic(ctx context.Context, etcd *clientv3.Client, ips []string) error {
	key := trafficload.Key("bench")
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for i := 0; ; i++ {
		r := api.TrafficReport{}
		for j, ip := range ips {
			lat := 0.010 + float64((i+j)%7)/1000
			rps := 40 + float64((i*3+j)%11)
			r[ip] = api.EndpointLoad{RPS: rps, InFlight: rps * lat, Latency: lat, CPU: -1, Reporters: 1}
		}
		b, err := json.Marshal(r)
		if err != nil {
			return err
		}
		if _, err := etcd.Put(ctx, key, string(b)); err != nil && ctx.Err() == nil {
			return fmt.Errorf("publish traffic: %w", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}
