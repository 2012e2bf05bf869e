package api

import (
	"math"
	"testing"
)

func TestTrafficReportMerge(t *testing.T) {
	into := TrafficReport{
		"10.0.0.1": {RPS: 100, InFlight: 4, ErrorRate: 0.1, Latency: 0.010, CPU: -1, Reporters: 1},
		"10.0.0.2": {RPS: 10, InFlight: 1, Reporters: 1, CPU: 0.5},
	}
	into.Merge(TrafficReport{
		"10.0.0.1": {RPS: 300, InFlight: 12, ErrorRate: 0, Latency: 0.030, CPU: 0.2, Reporters: 2},
		"10.0.0.3": {RPS: 1, InFlight: 0, Reporters: 1, CPU: -1},
	})
	a := into["10.0.0.1"]
	if a.RPS != 400 || a.InFlight != 16 || a.Reporters != 3 || a.CPU != 0.2 || math.Abs(a.ErrorRate-0.025) > 1e-9 || math.Abs(a.Latency-0.025) > 1e-9 {
		t.Errorf("merged 10.0.0.1 = %+v; want rates and in-flight added, errors and latency averaged by rate, CPU the larger", a)
	}
	if into["10.0.0.2"].RPS != 10 || into["10.0.0.3"].Reporters != 1 {
		t.Errorf("unshared endpoints: %+v", into)
	}
}

func TestParseTrafficReport(t *testing.T) {
	for _, tc := range []struct {
		in      string
		want    TrafficReport
		wantErr bool
	}{
		{in: `{"10.0.0.1":{"rps":2.5,"inFlight":1,"cpu":-1,"reporters":1}}`,
			want: TrafficReport{"10.0.0.1": {RPS: 2.5, InFlight: 1, CPU: -1, Reporters: 1}}},
		// What replicas wrote before the format had JSON tags.
		{in: `{"10.0.0.1":{"RPS":2.5,"InFlight":1,"ErrorRate":0,"Latency":0,"CPU":-1,"Reporters":1}}`,
			want: TrafficReport{"10.0.0.1": {RPS: 2.5, InFlight: 1, CPU: -1, Reporters: 1}}},
		{in: `{"10.0.0.1":{"rps":-1}}`, wantErr: true},
		{in: `[1,2]`, wantErr: true},
	} {
		got, err := ParseTrafficReport([]byte(tc.in))
		if (err != nil) != tc.wantErr {
			t.Errorf("ParseTrafficReport(%s) error = %v; want error %v", tc.in, err, tc.wantErr)
			continue
		}
		if !tc.wantErr && got["10.0.0.1"] != tc.want["10.0.0.1"] {
			t.Errorf("ParseTrafficReport(%s) = %+v; want %+v", tc.in, got, tc.want)
		}
	}
}
