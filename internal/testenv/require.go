package testenv

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/shoalmesh/shoal/internal/capability"
)

// Capability is something a test needs from the machine.
type Capability string

// The capabilities tests ask for. Each has a check (see Check).
const (
	// Root is uid 0 with CAP_NET_ADMIN and CAP_SYS_ADMIN: network
	// namespaces, bridges, veths, mounts. Node-agent tests add cgroups
	// through RequireOK with nodeagent.Preflight.
	Root Capability = "root"
	// Kubectl is a kubectl on the PATH.
	Kubectl Capability = "kubectl"
	// Node is Node.js and npm on the PATH (the grpc-js-xds test).
	Node Capability = "node"
	// Python3 is python3 on the PATH (pods serve with python3 -m http.server).
	Python3 Capability = "python3"
	// Containerd is containerd (with ctr and its runc shim), runc and the
	// stock CNI plugins (Debian's containerd, runc and
	// containernetworking-plugins).
	Containerd Capability = "containerd"
	// Registry is the distribution registry (Debian's docker-registry).
	Registry Capability = "registry"
	// Busybox is a static busybox, to build test images from.
	Busybox Capability = "busybox"
	// Chromium is Debian's chromium, driven headless (the dashboard's
	// browser test).
	Chromium Capability = "chromium"
)

// RequireEnv is the environment variable that lists, comma-separated, the
// capabilities a test may not skip for.
const RequireEnv = "SHOAL_TEST_REQUIRE"

// needs are what each capability other than Root stands for: programs on
// the PATH, or files (absolute paths).
var needs = map[Capability][]string{
	Kubectl:    {"kubectl"},
	Node:       {"node", "npm"},
	Python3:    {"python3"},
	Containerd: {"containerd", "ctr", "containerd-shim-runc-v2", "runc", "/usr/lib/cni/bridge"},
	Registry:   {"docker-registry"},
	Busybox:    {"busybox"},
	Chromium:   {"chromium"},
}

// Known lists every capability, in a fixed order.
func Known() []Capability {
	return []Capability{Root, Kubectl, Node, Python3, Containerd, Registry, Busybox, Chromium}
}

// Check is nil if this machine has c, or an error saying what is missing.
func Check(c Capability) error {
	if c == Root {
		return capability.Root()
	}
	want, ok := needs[c]
	if !ok {
		return fmt.Errorf("unknown capability %q (known: %s)", c, joinCaps(Known()))
	}
	var notOnPath, noFile []string
	for _, w := range want {
		if filepath.IsAbs(w) {
			if _, err := os.Stat(w); err != nil {
				noFile = append(noFile, w)
			}
		} else if _, err := exec.LookPath(w); err != nil {
			notOnPath = append(notOnPath, w)
		}
	}
	var missing []string
	if len(notOnPath) > 0 {
		missing = append(missing, strings.Join(notOnPath, " and ")+" not on the PATH")
	}
	if len(noFile) > 0 {
		missing = append(missing, "no "+strings.Join(noFile, " or "))
	}
	if len(missing) > 0 {
		return errors.New(strings.Join(missing, "; "))
	}
	return nil
}

// Require skips t unless this machine has every one of caps; where
// SHOAL_TEST_REQUIRE lists a missing one, t fails instead.
func Require(t testing.TB, caps ...Capability) {
	t.Helper()
	for _, c := range caps {
		RequireOK(t, c, Check(c))
	}
}

// RequireOK is Require for a check made by the caller: err (nil when the
// machine can) is why this machine lacks c.
func RequireOK(t testing.TB, c Capability, err error) {
	t.Helper()
	required, envErr := Required()
	if envErr != nil {
		t.Fatal(envErr)
	}
	if err == nil {
		return
	}
	if slices.Contains(required, c) {
		t.Fatalf("testenv: required capability %q is missing (%s=%s): %v", c, RequireEnv, os.Getenv(RequireEnv), err)
	}
	t.Skipf("needs %s: %v (skipped: %s does not list %s)", c, err, RequireEnv, c)
}

// Required is the capabilities SHOAL_TEST_REQUIRE lists, or an error if it
// names one that does not exist (a typo there would silently let tests skip).
func Required() ([]Capability, error) {
	var out []Capability
	for _, f := range strings.Split(os.Getenv(RequireEnv), ",") {
		c := Capability(strings.TrimSpace(f))
		if c == "" {
			continue
		}
		if !slices.Contains(Known(), c) {
			return nil, fmt.Errorf("testenv: %s=%q names unknown capability %q (known: %s)", RequireEnv, os.Getenv(RequireEnv), c, joinCaps(Known()))
		}
		out = append(out, c)
	}
	return out, nil
}

func joinCaps(cs []Capability) string {
	s := make([]string, len(cs))
	for i, c := range cs {
		s[i] = string(c)
	}
	return strings.Join(s, ", ")
}
