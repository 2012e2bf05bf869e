package main

import (
	"testing"
	"time"
)

const wrkOutput = `Running 10s test @ http://10.97.255.199:80/
  2 threads and 64 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency    11.02ms    8.71ms 210.33ms   83.12%
    Req/Sec     2.65k   312.08     3.41k    71.50%
  Latency Distribution
     50%   10.79ms
     75%   14.20ms
     90%   19.93ms
     99%   67.00ms
  52874 requests in 10.01s, 7.71MB read
  Non-2xx or 3xx responses: 3
  Socket errors: connect 0, read 2, write 0, timeout 1
Requests/sec:   5280.12
Transfer/sec:    788.53KB
`

func TestParseWrk(t *testing.T) {
	for _, tt := range []struct {
		name, out string
		want      wrkResult
		wantErr   bool
	}{
		{"errors", wrkOutput, wrkResult{requests: 52874, rps: 5280.12, p50: 10790 * time.Microsecond, p99: 67 * time.Millisecond,
			errors: "3 non-2xx; socket connect 0, read 2, write 0, timeout 1"}, false},
		{"microseconds", "  Latency Distribution\n     50%  812.00us\n     99%    1.20s\n  10 requests in 1.00s, 1KB read\nRequests/sec:     10.00\n",
			wrkResult{requests: 10, rps: 10, p50: 812 * time.Microsecond, p99: 1200 * time.Millisecond}, false},
		{"no --latency", "  10 requests in 1.00s, 1KB read\nRequests/sec:     10.00\n", wrkResult{}, true},
		{"garbage", "unable to connect to 10.97.255.199:80 Connection refused\n", wrkResult{}, true},
	} {
		got, err := parseWrk(tt.out)
		if (err != nil) != tt.wantErr {
			t.Errorf("%s: err = %v, want error %v", tt.name, err, tt.wantErr)
			continue
		}
		if !tt.wantErr && got != tt.want {
			t.Errorf("%s: got %+v, want %+v", tt.name, got, tt.want)
		}
	}
}
