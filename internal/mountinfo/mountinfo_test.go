package mountinfo

import (
	"reflect"
	"strings"
	"testing"
)

func TestUnescape(t *testing.T) {
	tests := []struct{ in, want string }{
		{`/plain`, `/plain`},
		{`/run/netns/with\040space`, `/run/netns/with space`},
		{`/a\011tab\012nl`, "/a\ttab\nnl"},
		{`/back\134slash`, `/back\slash`},
		{`/end\040`, `/end `},
		{`/short\04`, `/short\04`}, // too short to be an escape
		{`/notoctal\089`, `/notoctal\089`},
		{`/toolarge\777`, `/toolarge\777`}, // not a byte
	}
	for _, tc := range tests {
		if got := Unescape(tc.in); got != tc.want {
			t.Errorf("Unescape(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestParse(t *testing.T) {
	in := `50 27 0:4 net:[4026532577] /run/netns/with\040space rw - nsfs nsfs rw
32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,relatime shared:12 - cgroup cgroup rw,cpu,cpuacct
31 23 0:28 / /sys/fs/cgroup rw shared:9 master:1 - cgroup2 cgroup2 rw,nsdelegate
a line without the separator
1 2 3 - too few fields
`
	got, err := Parse(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	want := []Mount{
		{Point: "/run/netns/with space", FSType: "nsfs", SuperOptions: []string{"rw"}},
		{Point: "/sys/fs/cgroup/cpu,cpuacct", FSType: "cgroup", SuperOptions: []string{"rw", "cpu", "cpuacct"}},
		{Point: "/sys/fs/cgroup", FSType: "cgroup2", SuperOptions: []string{"rw", "nsdelegate"}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Parse:\n got %+v\nwant %+v", got, want)
	}
}

func TestReadHasRootAndProc(t *testing.T) {
	mounts, err := Read()
	if err != nil {
		t.Fatal(err)
	}
	types := map[string]string{}
	for _, m := range mounts {
		types[m.Point] = m.FSType
	}
	if _, ok := types["/"]; !ok {
		t.Errorf("no / among %d mounts", len(mounts))
	}
	if types["/proc"] != "proc" {
		t.Errorf("/proc is %q, want proc", types["/proc"])
	}
}
