package l7

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shoalmesh/shoal/internal/testenv"
	"github.com/shoalmesh/shoal/proxy/balancer"
	"github.com/shoalmesh/shoal/proxy/proxytest"
)

// handlerBackend serves h on 127.0.0.1; accepted counts its connections
// and closed those it saw closed.
type handlerBackend struct {
	addr             netip.AddrPort
	accepted, closed atomic.Int64
	srv              *http.Server
}

func startHandler(t *testing.T, h http.HandlerFunc) *handlerBackend {
	t.Helper()
	return startHandlerIdle(t, h, 0)
}

// startHandlerIdle starts a handlerBackend that closes connections idle
// for idle (0: never).
func startHandlerIdle(t *testing.T, h http.HandlerFunc, idle time.Duration) *handlerBackend {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	b := &handlerBackend{addr: netip.MustParseAddrPort(ln.Addr().String())}
	b.srv = &http.Server{Handler: h, IdleTimeout: idle, ConnState: func(_ net.Conn, s http.ConnState) {
		switch s {
		case http.StateNew:
			b.accepted.Add(1)
		case http.StateClosed, http.StateHijacked:
			b.closed.Add(1)
		}
	}}
	var wg sync.WaitGroup
	wg.Go(func() { b.srv.Serve(ln) })
	t.Cleanup(func() {
		b.srv.Close()
		wg.Wait()
	})
	return b
}

// dialRaw opens a client connection to the proxy, with a deadline.
func dialRaw(t *testing.T, ln net.Listener) (net.Conn, *bufio.Reader) {
	t.Helper()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(10 * time.Second))
	return c, bufio.NewReader(c)
}

// readResponse reads one response and its body.
func readResponse(t *testing.T, br *bufio.Reader, method string) (*http.Response, string) {
	t.Helper()
	res, err := http.ReadResponse(br, &http.Request{Method: method})
	if err != nil {
		t.Fatalf("read response: %v", err)
	}
	body, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatalf("read body: %v", err)
	}
	return res, string(body)
}

// expectClosed fails unless the proxy closed the connection.
func expectClosed(t *testing.T, br *bufio.Reader) {
	t.Helper()
	if b, err := br.ReadByte(); err != io.EOF {
		t.Errorf("connection still open: read %q, %v", b, err)
	}
}

func TestChunkedWithTrailers(t *testing.T) {
	proxytest.NoLeaks(t)
	forEachPath(t, func(t *testing.T) {
		b := startHandler(t, func(w http.ResponseWriter, r *http.Request) {
			body, _ := io.ReadAll(r.Body)
			w.Header().Set("Trailer", "X-Result")
			fmt.Fprintf(w, "got %s", body)
			w.(http.Flusher).Flush()
			fmt.Fprintf(w, " sum=%s te=%v", r.Trailer.Get("X-Sum"), r.TransferEncoding)
			w.Header().Set("X-Result", "ok")
		})
		_, ln := startProxy(t, newCluster(balancer.Options{}, b.addr))
		c, br := dialRaw(t, ln)
		io.WriteString(c, "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nTrailer: X-Sum\r\n\r\n"+
			"5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nX-Sum: 42\r\n\r\n")
		res, body := readResponse(t, br, http.MethodPost)
		want := "got hello world sum=42 te=[chunked]"
		if pathOptions(t, Options{}).NetHTTP1 {
			want = "got hello world sum= te=[chunked]" // request trailers are lost
		}
		if res.StatusCode != http.StatusOK || body != want {
			t.Errorf("got %d %q, want 200 %q", res.StatusCode, body, want)
		}
		if got := res.Trailer.Get("X-Result"); got != "ok" || len(res.TransferEncoding) != 1 {
			t.Errorf("trailer X-Result %q, transfer encoding %v; want ok, chunked", got, res.TransferEncoding)
		}
	})
}

func TestExpectContinue(t *testing.T) {
	proxytest.NoLeaks(t)
	forEachPath(t, func(t *testing.T) {
		b := startBackend(t, "a", nil)
		_, ln := startProxy(t, newCluster(balancer.Options{}, b.addr))
		c, br := dialRaw(t, ln)
		io.WriteString(c, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n")
		res, _ := readResponse(t, br, http.MethodPost)
		if res.StatusCode != http.StatusContinue {
			t.Fatalf("got %d before the body, want 100", res.StatusCode)
		}
		io.WriteString(c, "hello")
		res, body := readResponse(t, br, http.MethodPost)
		for res.StatusCode == http.StatusContinue { // net/http passes the endpoint's on
			res, body = readResponse(t, br, http.MethodPost)
		}
		if res.StatusCode != http.StatusOK || body != "a hello" {
			t.Errorf("got %d %q, want 200 \"a hello\"", res.StatusCode, body)
		}
	})
}

func TestBodylessResponses(t *testing.T) {
	proxytest.NoLeaks(t)
	forEachPath(t, func(t *testing.T) {
		b := startHandler(t, func(w http.ResponseWriter, r *http.Request) {
			switch r.URL.Path {
			case "/204":
				w.WriteHeader(http.StatusNoContent)
			case "/304":
				w.Header().Set("ETag", `"v1"`)
				w.WriteHeader(http.StatusNotModified)
			default:
				w.Header().Set("Content-Length", "10")
				if r.Method != http.MethodHead {
					io.WriteString(w, "0123456789")
				}
			}
		})
		_, ln := startProxy(t, newCluster(balancer.Options{}, b.addr))
		client, dials := oneConnClient(t)
		url := "http://" + ln.Addr().String()
		tests := []struct {
			method, path string
			code         int
			length       int64
			body         string
		}{
			{http.MethodHead, "/", 200, 10, ""},
			{http.MethodGet, "/204", 204, 0, ""},
			{http.MethodGet, "/304", 304, -1, ""},
			{http.MethodGet, "/", 200, 10, "0123456789"},
			{http.MethodHead, "/", 200, 10, ""},
		}
		for _, tc := range tests {
			req, _ := http.NewRequest(tc.method, url+tc.path, nil)
			res, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, err := io.ReadAll(res.Body)
			res.Body.Close()
			if err != nil || res.StatusCode != tc.code || string(body) != tc.body || (tc.length >= 0 && res.ContentLength != tc.length) {
				t.Errorf("%s %s: %d, length %d, %q, %v; want %d, %d, %q", tc.method, tc.path,
					res.StatusCode, res.ContentLength, body, err, tc.code, tc.length, tc.body)
			}
		}
		if d := dials.Load(); d != 1 {
			t.Errorf("client dialled %d times, want 1", d)
		}
	})
}

func TestConnectionClose(t *testing.T) {
	proxytest.NoLeaks(t)
	forEachPath(t, func(t *testing.T) {
		b := startHandler(t, func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/close" {
				w.Header().Set("Connection", "close")
			}
			io.WriteString(w, "ok")
		})
		_, ln := startProxy(t, newCluster(balancer.Options{}, b.addr))

		// The client's Connection: close.
		c, br := dialRaw(t, ln)
		io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
		if res, body := readResponse(t, br, http.MethodGet); body != "ok" || !res.Close {
			t.Errorf("got %q, close %v; want \"ok\" and Connection: close", body, res.Close)
		}
		expectClosed(t, br)

		// The endpoint's: the client's connection stays, the endpoint's goes.
		client, dials := oneConnClient(t)
		for range 3 {
			if code, body := get(t, client, "http://"+ln.Addr().String()+"/close"); code != 200 || body != "ok" {
				t.Fatalf("got %d %q", code, body)
			}
		}
		// The first reuses the pooled connection of the request above.
		if d, a := dials.Load(), b.accepted.Load(); d != 1 || a != 3 {
			t.Errorf("client dialled %d, endpoint accepted %d connections; want 1 and 3", d, a)
		}
	})
}

func TestHTTP10(t *testing.T) {
	proxytest.NoLeaks(t)
	forEachPath(t, func(t *testing.T) {
		b := startBackend(t, "a", func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/stream" {
				w.Write([]byte("x"))
				w.(http.Flusher).Flush() // chunked upstream
			}
		})
		_, ln := startProxy(t, newCluster(balancer.Options{}, b.addr))

		c, br := dialRaw(t, ln)
		io.WriteString(c, "GET / HTTP/1.0\r\n\r\n")
		if res, body := readResponse(t, br, http.MethodGet); res.StatusCode != 200 || body != "a " {
			t.Errorf("HTTP/1.0: %d %q", res.StatusCode, body)
		}
		expectClosed(t, br)

		c, br = dialRaw(t, ln)
		for range 2 {
			io.WriteString(c, "GET / HTTP/1.0\r\nHost: x\r\nConnection: keep-alive\r\n\r\n")
			if res, body := readResponse(t, br, http.MethodGet); res.StatusCode != 200 || body != "a " || res.Close {
				t.Fatalf("HTTP/1.0 keep-alive: %d %q, close %v", res.StatusCode, body, res.Close)
			}
		}
		// A chunked response goes to an HTTP/1.0 client as its data, up to a close.
		io.WriteString(c, "GET /stream HTTP/1.0\r\nHost: x\r\nConnection: keep-alive\r\n\r\n")
		if res, body := readResponse(t, br, http.MethodGet); res.StatusCode != 200 || body != "xa " || len(res.TransferEncoding) > 0 {
			t.Errorf("HTTP/1.0, chunked upstream: %d %q %v", res.StatusCode, body, res.TransferEncoding)
		}
		expectClosed(t, br)
	})
}

func TestPipelining(t *testing.T) {
	proxytest.NoLeaks(t)
	forEachPath(t, func(t *testing.T) {
		b := startBackend(t, "a", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, r.URL.Path) })
		_, ln := startProxy(t, newCluster(balancer.Options{}, b.addr))
		c, br := dialRaw(t, ln)
		io.WriteString(c, "GET /1 HTTP/1.1\r\nHost: x\r\n\r\nPOST /2 HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabcGET /3 HTTP/1.1\r\nHost: x\r\n\r\n")
		for _, want := range []string{"/1a ", "/2a abc", "/3a "} {
			if _, body := readResponse(t, br, http.MethodGet); body != want {
				t.Errorf("got %q, want %q", body, want)
			}
		}
	})
}

func TestBadRequests(t *testing.T) {
	proxytest.NoLeaks(t)
	b := startBackend(t, "a", nil)
	_, ln := startProxy(t, newCluster(balancer.Options{}, b.addr))
	tests := []struct {
		name, req string
		code      int
	}{
		{"huge header", "GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + strings.Repeat("a", 70<<10) + "\r\n\r\n", 431},
		{"many headers", "GET / HTTP/1.1\r\nHost: x\r\n" + strings.Repeat("X-A: 0123456789\r\n", 5000) + "\r\n", 431},
		{"no colon", "GET / HTTP/1.1\r\nHost: x\r\nbogus\r\n\r\n", 400},
		{"space before colon", "GET / HTTP/1.1\r\nHost : x\r\n\r\n", 400},
		{"folded line", "GET / HTTP/1.1\r\nHost: x\r\nX-A: a\r\n b\r\n\r\n", 400},
		{"both framings", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400},
		{"bad length", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3x\r\n\r\nabc", 400},
		{"negative length", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n", 400},
		{"two lengths", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab", 400},
		{"no host", "GET / HTTP/1.1\r\n\r\n", 400},
		{"two hosts", "GET / HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n", 400},
		{"bad method", "G(T / HTTP/1.1\r\nHost: x\r\n\r\n", 400},
		{"no version", "GET /\r\nHost: x\r\n\r\n", 400},
		{"control in value", "GET / HTTP/1.1\r\nHost: x\r\nX-A: a\x00b\r\n\r\n", 400},
		{"HTTP/2.0", "GET / HTTP/2.0\r\nHost: x\r\n\r\n", 505},
		{"gzip transfer coding", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n", 501},
		{"unknown expectation", "GET / HTTP/1.1\r\nHost: x\r\nExpect: magic\r\n\r\n", 417},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, br := dialRaw(t, ln)
			go io.WriteString(c, tc.req) // the proxy may answer before reading it all
			res, _ := readResponse(t, br, http.MethodGet)
			if res.StatusCode != tc.code {
				t.Errorf("got %d, want %d", res.StatusCode, tc.code)
			}
			expectClosed(t, br)
		})
	}
	if n := b.hits.Load(); n != 0 {
		t.Errorf("the endpoint got %d requests, want none", n)
	}
}

func TestUpgradeEcho(t *testing.T) {
	proxytest.NoLeaks(t)
	forEachPath(t, func(t *testing.T) {
		b := startHandler(t, func(w http.ResponseWriter, r *http.Request) {
			if r.Header.Get("Upgrade") != "websocket" {
				http.Error(w, "no upgrade", http.StatusBadRequest)
				return
			}
			c, brw, err := http.NewResponseController(w).Hijack()
			if err != nil {
				return
			}
			defer c.Close()
			brw.WriteString("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n")
			brw.Flush()
			// Echo up to "bye", then close first.
			buf := make([]byte, 32<<10)
			for {
				n, err := brw.Read(buf)
				if n > 0 {
					c.Write(buf[:n])
					if strings.HasSuffix(string(buf[:n]), "bye") {
						return
					}
				}
				if err != nil {
					return
				}
			}
		})
		_, ln := startProxy(t, newCluster(balancer.Options{}, b.addr))
		c, br := dialRaw(t, ln)
		io.WriteString(c, "GET /ws HTTP/1.1\r\nHost: x\r\nConnection: keep-alive, Upgrade\r\nUpgrade: websocket\r\n\r\n")
		res, err := http.ReadResponse(br, nil)
		if err != nil || res.StatusCode != http.StatusSwitchingProtocols || res.Header.Get("Upgrade") != "websocket" {
			t.Fatalf("upgrade: %v, %v", res, err)
		}
		msg := strings.Repeat("0123456789", 10<<10) + "bye"
		go io.WriteString(c, msg)
		got, err := io.ReadAll(br)
		if err != nil || string(got) != msg {
			t.Errorf("echo: %d bytes, %v; want %d bytes and the endpoint's close", len(got), err, len(msg))
		}
	})
}

func TestHugeStreamingBodies(t *testing.T) {
	proxytest.NoLeaks(t)
	const size = 16 << 20
	forEachPath(t, func(t *testing.T) {
		b := startHandler(t, func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/upload" {
				n, err := io.Copy(io.Discard, r.Body)
				fmt.Fprintf(w, "%d %v", n, err)
				return
			}
			chunk := make([]byte, 32<<10)
			for n := 0; n < size; n += len(chunk) {
				if _, err := w.Write(chunk); err != nil {
					return
				}
			}
		})
		_, ln := startProxy(t, newCluster(balancer.Options{}, b.addr))
		client, _ := oneConnClient(t)
		url := "http://" + ln.Addr().String()
		// Of unknown length: chunked.
		pr, pw := io.Pipe()
		go func() {
			chunk := make([]byte, 64<<10)
			for n := 0; n < size; n += len(chunk) {
				pw.Write(chunk)
			}
			pw.Close()
		}()
		res, err := client.Post(url+"/upload", "application/octet-stream", pr)
		if err != nil {
			t.Fatal(err)
		}
		got, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if want := strconv.Itoa(size) + " <nil>"; string(got) != want {
			t.Errorf("upload: endpoint read %q, want %q", got, want)
		}
		res, err = client.Get(url + "/download")
		if err != nil {
			t.Fatal(err)
		}
		n, err := io.Copy(io.Discard, res.Body)
		res.Body.Close()
		if n != size || err != nil {
			t.Errorf("download: %d bytes, %v; want %d", n, err, size)
		}
	})
}

func TestClientGoneMidResponse(t *testing.T) {
	proxytest.NoLeaks(t)
	forEachPath(t, func(t *testing.T) {
		gone := make(chan struct{})
		b := startHandler(t, func(w http.ResponseWriter, r *http.Request) {
			defer close(gone)
			for {
				if _, err := io.WriteString(w, strings.Repeat("x", 1024)); err != nil {
					return
				}
				w.(http.Flusher).Flush()
				select {
				case <-r.Context().Done():
					return
				case <-time.After(5 * time.Millisecond):
				}
			}
		})
		c := newCluster(balancer.Options{}, b.addr)
		_, ln := startProxy(t, c)
		conn, br := dialRaw(t, ln)
		io.WriteString(conn, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
		res, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadFull(res.Body, make([]byte, 100)); err != nil {
			t.Fatal(err)
		}
		conn.Close()
		select {
		case <-gone:
		case <-time.After(5 * time.Second):
			t.Fatal("the endpoint still streams after the client left")
		}
		testenv.Eventually(t, 5*time.Second, "no active requests", func() bool { return c.Hosts()[0].Active() == 0 })
		testenv.Eventually(t, 5*time.Second, "the endpoint's connection closed", func() bool { return b.closed.Load() == 1 })
	})
}

func TestUpstreamDiesMidResponse(t *testing.T) {
	proxytest.NoLeaks(t)
	forEachPath(t, func(t *testing.T) {
		b := startHandler(t, func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path != "/die" {
				io.WriteString(w, "ok")
				return
			}
			c, brw, err := http.NewResponseController(w).Hijack()
			if err != nil {
				return
			}
			brw.WriteString("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nshort")
			brw.Flush()
			c.Close()
		})
		_, ln := startProxy(t, newCluster(balancer.Options{}, b.addr))
		client, dials := oneConnClient(t)
		// The fast path sends the head as it came; net/http's ReverseProxy
		// still held it when the body broke off.
		res, err := client.Get("http://" + ln.Addr().String() + "/die")
		if err == nil {
			body, err := io.ReadAll(res.Body)
			res.Body.Close()
			if err == nil {
				t.Errorf("a response cut short read whole: %q", body)
			}
		} else if !pathOptions(t, Options{}).NetHTTP1 {
			t.Errorf("no response head: %v", err)
		}
		if code, body := get(t, client, "http://"+ln.Addr().String()+"/"); code != 200 || body != "ok" {
			t.Errorf("next request: %d %q", code, body)
		}
		if d := dials.Load(); d != 2 {
			t.Errorf("client dialled %d times, want 2: the cut response closes its connection", d)
		}
	})
}

func TestUpstreamKeepAlive(t *testing.T) {
	proxytest.NoLeaks(t)
	forEachPath(t, func(t *testing.T) {
		b := startHandler(t, func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") })
		_, ln := startProxy(t, newCluster(balancer.Options{}, b.addr))
		url := "http://" + ln.Addr().String() + "/"
		client, _ := oneConnClient(t)
		for range 50 {
			get(t, client, url)
		}
		if n := b.accepted.Load(); n != 1 {
			t.Errorf("50 sequential requests: the endpoint accepted %d connections, want 1", n)
		}
		var wg sync.WaitGroup
		for range 8 {
			wg.Go(func() {
				client, _ := oneConnClient(t)
				for range 20 {
					get(t, client, url)
				}
			})
		}
		wg.Wait()
		// net/http's Transport may dial while a connection frees up.
		if n, most := b.accepted.Load(), map[bool]int64{false: 8, true: 16}[pathOptions(t, Options{}).NetHTTP1]; n > most {
			t.Errorf("8 clients: the endpoint accepted %d connections, want at most %d", n, most)
		}
	})
}

func TestStalePooledConnection(t *testing.T) {
	proxytest.NoLeaks(t)
	forEachPath(t, func(t *testing.T) {
		b := startHandlerIdle(t, func(w http.ResponseWriter, r *http.Request) {
			body, _ := io.ReadAll(r.Body)
			fmt.Fprintf(w, "a %s", body)
		}, 20*time.Millisecond)
		c := newCluster(balancer.Options{ConsecutiveFailures: -1}, b.addr)
		_, ln := startProxy(t, c)
		url := "http://" + ln.Addr().String() + "/"
		client, _ := oneConnClient(t)
		for i := range 3 {
			if code, body := get(t, client, url); code != 200 || body != "a " {
				t.Fatalf("GET: %d %q", code, body)
			}
			// Wait for the endpoint to close the pooled connection.
			time.Sleep(100 * time.Millisecond)
			res, err := client.Post(url, "text/plain", strings.NewReader(strconv.Itoa(i)))
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(res.Body)
			res.Body.Close()
			if res.StatusCode != 200 || string(body) != "a "+strconv.Itoa(i) {
				t.Fatalf("POST over a connection the endpoint closed: %d %q", res.StatusCode, body)
			}
			time.Sleep(100 * time.Millisecond)
		}
		if n := counter(retriesTotal.WithLabelValues(t.Name())); n != 0 {
			t.Errorf("retries_total = %v, want 0", n)
		}
	})
}

func TestForwardingHeaders(t *testing.T) {
	proxytest.NoLeaks(t)
	forEachPath(t, func(t *testing.T) {
		seen := make(chan http.Header, 1)
		hosts := make(chan string, 1)
		b := startHandler(t, func(w http.ResponseWriter, r *http.Request) {
			seen <- r.Header.Clone()
			hosts <- r.Host
			w.Header().Set("Connection", "X-Resp-Hop")
			w.Header().Set("X-Resp-Hop", "1")
			w.Header().Set("X-Resp-Keep", "1")
		})
		_, ln := startProxy(t, newCluster(balancer.Options{}, b.addr))
		c, br := dialRaw(t, ln)
		io.WriteString(c, "GET / HTTP/1.1\r\nHost: example.test\r\nX-Forwarded-For: 10.0.0.1\r\nX-Forwarded-For: 10.0.0.2\r\n"+
			"Connection: keep-alive, X-Drop\r\nX-Drop: 1\r\nKeep-Alive: timeout=5\r\nProxy-Connection: keep-alive\r\n"+
			"Te: trailers, deflate\r\nForwarded: for=10.0.0.1\r\nX-Forwarded-Proto: https\r\nX-Keep: 1\r\n\r\n")
		res, _ := readResponse(t, br, http.MethodGet)
		h := <-seen
		if host := <-hosts; host != "example.test" {
			t.Errorf("Host %q, want example.test", host)
		}
		want := map[string]string{
			"X-Forwarded-For":   "10.0.0.1, 10.0.0.2, 127.0.0.1",
			"X-Drop":            "",
			"Keep-Alive":        "",
			"Proxy-Connection":  "",
			"Te":                "trailers",
			"Forwarded":         "for=10.0.0.1",
			"X-Forwarded-Proto": "https",
			"X-Keep":            "1",
		}
		for k, v := range want {
			if got := strings.Join(h[k], ","); got != v {
				t.Errorf("endpoint's %s: %q, want %q", k, got, v)
			}
		}
		if res.Header.Get("X-Resp-Hop") != "" || res.Header.Get("X-Resp-Keep") != "1" {
			t.Errorf("response headers %v: want X-Resp-Keep and not X-Resp-Hop", res.Header)
		}
	})
}

func TestPipelinedPartialHead(t *testing.T) {
	proxytest.NoLeaks(t)
	forEachPath(t, func(t *testing.T) {
		b := startBackend(t, "a", nil)
		_, ln := startProxy(t, newCluster(balancer.Options{}, b.addr))
		c, br := dialRaw(t, ln)
		// A POST followed by a stray CRLF, as old clients send, and the
		// start of the next request: the first answer must not wait for
		// the rest of it.
		io.WriteString(c, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nhi\r\nGET / HT")
		if _, body := readResponse(t, br, http.MethodPost); body != "a hi" {
			t.Fatalf("got %q", body)
		}
		io.WriteString(c, "TP/1.1\r\nHost: x\r\n\r\n")
		if _, body := readResponse(t, br, http.MethodGet); body != "a " {
			t.Errorf("got %q", body)
		}
	})
}

func TestAbsoluteFormTarget(t *testing.T) {
	proxytest.NoLeaks(t)
	forEachPath(t, func(t *testing.T) {
		seen := make(chan string, 4)
		b := startHandler(t, func(w http.ResponseWriter, r *http.Request) {
			seen <- r.Host + " " + r.RequestURI
		})
		_, ln := startProxy(t, newCluster(balancer.Options{}, b.addr))
		c, br := dialRaw(t, ln)
		tests := []struct{ req, want string }{
			{"GET http://example.test/a?b HTTP/1.1\r\nHost: other\r\n\r\n", "example.test /a?b"},
			{"GET http://example.test:8080?q HTTP/1.1\r\nHost: other\r\n\r\n", "example.test:8080 /?q"},
			{"GET /plain HTTP/1.1\r\nHost: other\r\n\r\n", "other /plain"},
		}
		for _, tc := range tests {
			io.WriteString(c, tc.req)
			if res, _ := readResponse(t, br, http.MethodGet); res.StatusCode != 200 {
				t.Fatalf("%q: %d", tc.req, res.StatusCode)
			}
			if got := <-seen; got != tc.want {
				t.Errorf("%q reached the endpoint as %q, want %q", tc.req, got, tc.want)
			}
		}
	})
}

func TestClientGoneWhileWaiting(t *testing.T) {
	proxytest.NoLeaks(t)
	forEachPath(t, func(t *testing.T) {
		arrived, cancelled := make(chan struct{}), make(chan struct{})
		b := startHandler(t, func(w http.ResponseWriter, r *http.Request) {
			close(arrived)
			select {
			case <-r.Context().Done():
				close(cancelled)
			case <-time.After(10 * time.Second):
			}
		})
		c := newCluster(balancer.Options{}, b.addr)
		_, ln := startProxy(t, c)
		conn, _ := dialRaw(t, ln)
		io.WriteString(conn, "GET /long-poll HTTP/1.1\r\nHost: x\r\n\r\n")
		<-arrived
		conn.Close()
		select {
		case <-cancelled:
		case <-time.After(5 * time.Second):
			t.Fatal("the endpoint's request outlived its client")
		}
		testenv.Eventually(t, 5*time.Second, "no active requests", func() bool { return c.Hosts()[0].Active() == 0 })
		testenv.Eventually(t, 5*time.Second, "requests_total{code=4xx} = 1", func() bool {
			return counter(requestsTotal.WithLabelValues(t.Name(), "4xx")) == 1
		})
		if n := counter(upstreamErrors.WithLabelValues(t.Name(), "reset")); n != 0 {
			t.Errorf("upstream_errors_total{kind=reset} = %v, want 0: the client left", n)
		}
	})
}
