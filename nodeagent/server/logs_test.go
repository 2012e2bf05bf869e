package server

import (
	"net/url"
	"testing"
	"time"
)

func TestParseLogOptions(t *testing.T) {
	now := time.Date(2026, 1, 2, 15, 4, 5, 0, time.UTC)
	q := func(s string) url.Values { v, _ := url.ParseQuery(s); return v }
	o, err := ParseLogOptions(q("follow=true&previous=1&timestamps=true&tailLines=10&limitBytes=100&sinceSeconds=60"), now)
	if err != nil || !o.Follow || !o.Previous || !o.Timestamps || *o.TailLines != 10 || *o.LimitBytes != 100 || !o.SinceTime.Equal(now.Add(-time.Minute)) {
		t.Errorf("options %+v, %v", o, err)
	}
	o, err = ParseLogOptions(q("sinceTime=2026-01-02T15:00:00Z"), now)
	if err != nil || !o.SinceTime.Equal(time.Date(2026, 1, 2, 15, 0, 0, 0, time.UTC)) {
		t.Errorf("sinceTime: %+v, %v", o, err)
	}
	for _, bad := range []string{"follow=maybe", "tailLines=-1", "tailLines=x", "limitBytes=0", "sinceSeconds=0",
		"sinceTime=yesterday", "sinceSeconds=5&sinceTime=2026-01-02T15:00:00Z"} {
		if _, err := ParseLogOptions(q(bad), now); err == nil {
			t.Errorf("%s: no error", bad)
		}
	}
}

func TestParseStreamOptions(t *testing.T) {
	q := func(s string) url.Values { v, _ := url.ParseQuery(s); return v }
	tests := []struct {
		query   string
		exec    bool
		want    streamOptions
		wantErr bool
	}{
		{query: "command=ls&command=-l&stdout=1&stderr=1", exec: true, want: streamOptions{stdout: true, stderr: true, command: []string{"ls", "-l"}}},
		{query: "command=sh&stdin=1&stdout=1&stderr=1&tty=1", exec: true, want: streamOptions{stdin: true, stdout: true, tty: true, command: []string{"sh"}}},
		{query: "stdin=true&stdout=true", want: streamOptions{stdin: true, stdout: true}},
		{query: "command=ls", exec: true, wantErr: true},
		{query: "stdout=1", exec: true, wantErr: true},
		{query: "stdout=0&stderr=no", wantErr: true},
	}
	for _, tt := range tests {
		got, err := parseStreamOptions(q(tt.query), tt.exec)
		if (err != nil) != tt.wantErr {
			t.Errorf("%s: err %v, want error %v", tt.query, err, tt.wantErr)
			continue
		}
		if err == nil && (got.stdin != tt.want.stdin || got.stdout != tt.want.stdout || got.stderr != tt.want.stderr || got.tty != tt.want.tty ||
			len(got.command) != len(tt.want.command)) {
			t.Errorf("%s: %+v, want %+v", tt.query, got, tt.want)
		}
	}
	if _, err := parsePorts([]string{"80,8080", "443"}); err != nil {
		t.Error(err)
	}
	for _, bad := range []string{"0", "65536", "x", ""} {
		if _, err := parsePorts([]string{bad}); err == nil {
			t.Errorf("port %q accepted", bad)
		}
	}
}
