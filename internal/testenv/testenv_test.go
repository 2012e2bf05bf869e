package testenv_test

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/shoalmesh/shoal/internal/testenv"
)

// childEnv, when set, makes TestChild run the named scenario: the tests
// below run this test binary again to see a skip or a failure from outside.
const childEnv = "TESTENV_CHILD"

func TestChild(t *testing.T) {
	switch os.Getenv(childEnv) {
	case "":
		return // run as a child only
	case "require-kubectl":
		testenv.Require(t, testenv.Kubectl)
	case "require-ok-root":
		testenv.RequireOK(t, testenv.Root, errors.New("no cgroups here"))
	case "eventually-times-out":
		n := 0
		testenv.Eventually(t, 30*time.Millisecond, "the answer", func() error {
			n++
			return fmt.Errorf("got %d", n)
		})
	}
	fmt.Println("REACHED THE END")
}

// child runs TestChild with scenario, PATH and SHOAL_TEST_REQUIRE set, and
// returns its output.
func child(t *testing.T, scenario, path, require string) string {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestChild$", "-test.v")
	cmd.Env = append(os.Environ(), childEnv+"="+scenario, "PATH="+path, testenv.RequireEnv+"="+require)
	out, _ := cmd.CombinedOutput()
	return string(out)
}

func TestRequire(t *testing.T) {
	empty := t.TempDir() // a PATH with no kubectl on it
	cases := []struct {
		name, scenario, path, require string
		want                          []string // in the child's output
	}{
		{"missing, not required: skips", "require-kubectl", empty, "",
			[]string{"--- SKIP: TestChild", "needs kubectl: kubectl not on the PATH", "SHOAL_TEST_REQUIRE does not list kubectl"}},
		{"missing, required: fails naming it", "require-kubectl", empty, "root,kubectl",
			[]string{"--- FAIL: TestChild", `required capability "kubectl" is missing (SHOAL_TEST_REQUIRE=root,kubectl): kubectl not on the PATH`}},
		{"another one required: still skips", "require-kubectl", empty, "node",
			[]string{"--- SKIP: TestChild"}},
		{"a typo in the variable fails", "require-kubectl", empty, "kubctl",
			[]string{"--- FAIL: TestChild", `unknown capability "kubctl"`}},
		{"caller's reason, required", "require-ok-root", os.Getenv("PATH"), "root",
			[]string{"--- FAIL: TestChild", `required capability "root" is missing`, "no cgroups here"}},
		{"caller's reason, not required", "require-ok-root", os.Getenv("PATH"), "",
			[]string{"--- SKIP: TestChild", "needs root: no cgroups here"}},
		{"eventually times out with the last error", "eventually-times-out", os.Getenv("PATH"), "",
			[]string{"--- FAIL: TestChild", "the answer: still not so after 30ms: got "}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			out := child(t, tc.scenario, tc.path, tc.require)
			for _, w := range tc.want {
				if !strings.Contains(out, w) {
					t.Errorf("output lacks %q:\n%s", w, out)
				}
			}
			if strings.Contains(out, "REACHED THE END") {
				t.Errorf("the test went on past a missing capability:\n%s", out)
			}
		})
	}
}

func TestRequirePresent(t *testing.T) {
	dir := t.TempDir()
	for _, b := range []string{"node", "npm"} {
		if err := os.WriteFile(dir+"/"+b, []byte("#!/bin/sh\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	t.Setenv("PATH", dir)
	if err := testenv.Check(testenv.Node); err != nil {
		t.Errorf("node and npm on the PATH: %v", err)
	}
	if err := os.Remove(dir + "/npm"); err != nil {
		t.Fatal(err)
	}
	if err := testenv.Check(testenv.Node); err == nil || !strings.Contains(err.Error(), "npm not on the PATH") {
		t.Errorf("without npm: %v", err)
	}
	if err := testenv.Check(testenv.Containerd); err == nil || !strings.Contains(err.Error(), "containerd and ctr and containerd-shim-runc-v2 and runc not on the PATH") {
		t.Errorf("containerd with an empty PATH: %v", err)
	}
	if err := testenv.Check("gpu"); err == nil || !strings.Contains(err.Error(), `unknown capability "gpu"`) {
		t.Errorf("unknown capability: %v", err)
	}
}

func TestEventually(t *testing.T) {
	n := 0
	testenv.Eventually(t, 5*time.Second, "third call", func() bool { n++; return n == 3 })
	if n != 3 {
		t.Errorf("cond called %d times, want 3", n)
	}
	m := 0
	testenv.Eventually(t, 5*time.Second, "second call", func() error {
		if m++; m < 2 {
			return errors.New("not yet")
		}
		return nil
	})
	if m != 2 {
		t.Errorf("cond called %d times, want 2", m)
	}
}

func TestFreePort(t *testing.T) {
	ips := []string{"127.0.0.1", "127.0.0.2"}
	port := testenv.FreePort(t, ips...)
	for _, ip := range ips {
		addr := net.JoinHostPort(ip, strconv.Itoa(port))
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			t.Fatalf("TCP on %s: %v", addr, err)
		}
		ln.Close()
		pc, err := net.ListenPacket("udp", addr)
		if err != nil {
			t.Fatalf("UDP on %s: %v", addr, err)
		}
		pc.Close()
	}
	// Never the same port twice in a process, and never one the kernel
	// may give an outgoing connection.
	eph := 32768
	if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
		fmt.Sscan(string(b), &eph)
	}
	seen := map[int]bool{port: true}
	for range 200 {
		p := testenv.FreePort(t)
		if p >= eph || p < 1024 {
			t.Fatalf("port %d: want one below the ephemeral range (from %d)", p, eph)
		}
		if seen[p] {
			t.Fatalf("port %d handed out twice", p)
		}
		seen[p] = true
	}
	if a := testenv.FreeAddr(t); !strings.HasPrefix(a, "127.0.0.1:") {
		t.Errorf("FreeAddr = %q", a)
	}
}
