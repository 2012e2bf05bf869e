package capability

import (
	"os"
	"strings"
	"testing"
)

func TestParseCapEff(t *testing.T) {
	cases := []struct {
		name, status string
		want         uint64
		err          string
	}{
		{"root", "Name:\tshoal\nCapInh:\t0000000000000000\nCapEff:\t000001ffffffffff\nCapBnd:\t000001ffffffffff\n", 0x1ffffffffff, ""},
		{"none", "CapEff:\t0000000000000000\n", 0, ""},
		{"net admin only", "CapEff: 0000000000001000\n", 1 << NetAdmin, ""},
		{"no line", "Name:\tshoal\n", 0, "no CapEff line"},
		{"garbage", "CapEff:\tzz\n", 0, "parse CapEff"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseCapEff(strings.NewReader(tc.status))
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want one containing %q", err, tc.err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("= %x, %v; want %x", got, err, tc.want)
			}
		})
	}
}

// TestMissingAgreesWithThisProcess checks Missing against this process's
// uid and CapEff bits. Whether root here must have everything is asserted
// by nodeagent's TestPreflight, which CI runs as root.
func TestMissingAgreesWithThisProcess(t *testing.T) {
	eff, err := Effective()
	if err != nil {
		t.Fatalf("Effective: %v", err)
	}
	missing := strings.Join(Missing(), "; ")
	for _, c := range []struct {
		lacks bool
		name  string
	}{
		{os.Geteuid() != 0, "root"},
		{eff&(1<<NetAdmin) == 0, "CAP_NET_ADMIN"},
		{eff&(1<<SysAdmin) == 0, "CAP_SYS_ADMIN"},
	} {
		if c.lacks != strings.Contains(missing, c.name) {
			t.Errorf("uid %d, CapEff %x: Missing() = %q, lacks %s = %v", os.Geteuid(), eff, missing, c.name, c.lacks)
		}
	}
	if (missing == "") != (Root() == nil) {
		t.Errorf("Missing() = %q but Root() = %v", missing, Root())
	}
}
