package l7

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"testing"

	"github.com/shoalmesh/shoal/proxy/balancer"
)

// cannedBackend answers every request with the same small response,
// parsing as little as it can, so that a benchmark's allocations and CPU
// are mostly the proxy's.
func cannedBackend(b *testing.B) netip.AddrPort {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	const res = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello"
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Go(func() {
				defer c.Close()
				br := bufio.NewReader(c)
				for {
					// Requests have no body: a head ends at an empty line.
					for {
						line, err := br.ReadSlice('\n')
						if err != nil {
							return
						}
						if len(line) <= 2 {
							break
						}
					}
					if _, err := io.WriteString(c, res); err != nil {
						return
					}
				}
			})
		}
	})
	b.Cleanup(func() {
		ln.Close()
		wg.Wait()
	})
	return netip.MustParseAddrPort(ln.Addr().String())
}

// BenchmarkProxyHTTP1 measures a keep-alive GET through the proxy on each
// HTTP/1.1 path, with one client connection per parallel goroutine.
//
//	go test -run '^$' -bench ProxyHTTP1 -benchmem ./proxy/l7/
func BenchmarkProxyHTTP1(b *testing.B) {
	for _, path := range []struct {
		name     string
		netHTTP1 bool
	}{{"fast", false}, {"net-http", true}} {
		b.Run(path.name, func(b *testing.B) {
			var addrs []netip.AddrPort
			for range 3 {
				addrs = append(addrs, cannedBackend(b))
			}
			c := newCluster(balancer.Options{}, addrs...)
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				b.Fatal(err)
			}
			p := New(c, Options{Service: b.Name(), NetHTTP1: path.netHTTP1})
			done := make(chan error, 1)
			go func() { done <- p.Serve(ln) }()
			b.Cleanup(func() {
				p.Shutdown(b.Context())
				<-done
			})
			req := []byte("GET /bench HTTP/1.1\r\nHost: bench\r\nUser-Agent: wrk\r\nAccept: */*\r\n\r\n")
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				conn, err := net.Dial("tcp", ln.Addr().String())
				if err != nil {
					b.Error(err)
					return
				}
				defer conn.Close()
				br := bufio.NewReader(conn)
				for pb.Next() {
					if _, err := conn.Write(req); err != nil {
						b.Error(err)
						return
					}
					if err := readCanned(br); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}

// readCanned reads a response with a Content-Length.
func readCanned(br *bufio.Reader) error {
	n := -1
	for {
		line, err := br.ReadSlice('\n')
		if err != nil {
			return err
		}
		if len(line) <= 2 {
			break
		}
		if v, ok := bytes.CutPrefix(line, []byte("Content-Length: ")); ok {
			n, _ = strconv.Atoi(string(bytes.TrimSpace(v)))
		}
	}
	if n < 0 {
		return io.ErrUnexpectedEOF
	}
	_, err := br.Discard(n)
	return err
}
