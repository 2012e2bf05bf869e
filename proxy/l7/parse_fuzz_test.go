package l7

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
)

// FuzzParseRequest feeds the request parser arbitrary input: it must not
// panic, and what it accepts it must pass on as a request it accepts
// again, with the same framing.
//
//	go test -run '^$' -fuzz FuzzParseRequest -fuzztime 30s ./proxy/l7/
func FuzzParseRequest(f *testing.F) {
	for _, s := range []string{
		"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
		"POST /a?b HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc",
		"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nTrailer: X\r\n\r\n3\r\nabc\r\n0\r\nX: 1\r\n\r\n",
		"GET / HTTP/1.0\r\nConnection: keep-alive, X-A\r\nX-A: 1\r\nX-Forwarded-For: 1.2.3.4\r\n\r\n",
		"GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nTe: trailers\r\n\r\n",
		"\r\nGET / HTTP/1.1\nHost: x\n\n",
		"GET http://example.test?q HTTP/1.1\r\nHost: x\r\n\r\n",
		"GET HTTPS://a:1/p/q HTTP/1.0\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: x\r\nConnection: host, content-length\r\nContent-Length: 0\r\n\r\n",
		"PUT / HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var r request
		err := r.parse(bufio.NewReaderSize(bytes.NewReader(data), 64))
		if err != nil {
			var re *requestError
			if !errors.As(err, &re) && err != io.EOF && err != io.ErrUnexpectedEOF {
				t.Fatalf("unexpected error %v", err)
			}
			return
		}
		if r.chunked && r.length >= 0 {
			t.Fatal("both framings accepted")
		}
		out := r.appendUpstream(nil, "127.0.0.1")
		if r.host < 0 && r.authority.b == 0 {
			out = append(out, "Host: 10.0.0.1:80\r\n"...)
		}
		out = append(out, "\r\n"...)
		var again request
		if err := again.parse(bufio.NewReader(bytes.NewReader(out))); err != nil {
			t.Fatalf("upstream head %q refused: %v", out, err)
		}
		if again.chunked != r.chunked || again.length != r.length || again.minor != 1 ||
			string(again.bytes(again.method)) != string(r.bytes(r.method)) ||
			(r.authority.b == 0 && string(again.bytes(again.target)) != string(r.bytes(r.target))) {
			t.Fatalf("upstream head %q does not match the request", out)
		}
		for _, f := range again.fields {
			name := string(again.bytes(f.name))
			k := kind(again.bytes(f.name))
			if k == hKeepAlive || k == hProxyConnection || k == hExpect || (k == hOther && r.listed([]byte(name))) {
				t.Fatalf("hop-by-hop field %s passed in %q", name, out)
			}
			if k == hConnection && !strings.EqualFold(string(again.bytes(f.value)), "upgrade") {
				t.Fatalf("Connection passed in %q", out)
			}
		}
	})
}
