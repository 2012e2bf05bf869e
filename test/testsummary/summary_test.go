package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestSummary runs `go test -json` on testdata/sample, a module with
// passing, failing, skipping, unbuildable and crashing tests, and checks
// what testsummary prints and whether it calls the run a success.
func TestSummary(t *testing.T) {
	goBin, err := exec.LookPath("go") // go test puts GOROOT/bin first on the PATH
	if err != nil {
		t.Fatal(err)
	}
	dir, err := filepath.Abs(filepath.Join("testdata", "sample"))
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("GOFLAGS", "")
	t.Setenv("GOWORK", "off")
	cases := []struct {
		name    string
		pkgs    []string
		ok      bool
		want    []string
		notWant []string
	}{
		{"passing and skipping", []string{"./pass"}, true, []string{
			"ok  \texample.com/sample/pass",
			"Skipped tests (2):",
			"  ./pass TestSkip: pass_test.go:7: needs kubectl: kubectl not on the PATH\n",
			"  ./pass TestSub/skipped: pass_test.go:10: no python3 here\n",
			"\nPASS: 5 tests: 3 passed, 0 failed, 2 skipped; 1 packages, 0 failed; ",
		}, []string{"=== RUN", "Failed tests"}},
		{"everything", []string{"./..."}, false, []string{
			// The failing test's output as it fails, not the passing one's.
			"=== RUN   TestFail\n    fail_test.go:6: what the test saw\n    fail_test.go:7: boom\n--- FAIL: TestFail",
			// The build error and the crash.
			"build_test.go:5:32: undefined: notDefined",
			"--- ./crash TestCrash did not finish:",
			"panic: crashed outside the test's goroutine",
			"  FAIL ./fail TestFail\n",
			"  FAIL ./crash TestCrash (did not finish)\n",
			"  FAIL ./build (build failed)\n",
			"\nFAIL: 8 tests: 4 passed, 2 failed, 2 skipped; 4 packages, 3 failed; ",
		}, []string{"passing chatter"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			s := newSummary(&out, "example.com/sample")
			t.Chdir(dir)
			runErr := run(s, goBin, append([]string{"test", "-json", "-count=1"}, tc.pkgs...)...)
			ok := s.finish(time.Second) && runErr == nil
			got := out.String()
			if ok != tc.ok {
				t.Errorf("success = %v (run: %v), want %v", ok, runErr, tc.ok)
			}
			for _, w := range tc.want {
				if !strings.Contains(got, w) {
					t.Errorf("output lacks %q", w)
				}
			}
			for _, w := range tc.notWant {
				if strings.Contains(got, w) {
					t.Errorf("output has %q", w)
				}
			}
			if !strings.HasSuffix(got, " 1s\n") {
				t.Errorf("the summary line is not the last one")
			}
			if t.Failed() {
				t.Logf("output:\n%s", got)
			}
		})
	}
}

func TestFuzzTargets(t *testing.T) {
	dir := t.TempDir()
	files := map[string]string{
		"a/a_test.go":          "package a\n\nfunc FuzzB(f *testing.F) {}\nfunc FuzzA(f *testing.F) {}\nfunc Fuzzy() {}\n",
		"b/c/c_test.go":        "package c\n\nfunc FuzzC(ff *testing.F) {\n}\n",
		"b/c/c.go":             "package c\n\nfunc FuzzNotATest(f *testing.F) {}\n",
		"testdata/x/x_test.go": "package x\n\nfunc FuzzIgnored(f *testing.F) {}\n",
		".hidden/h_test.go":    "package h\n\nfunc FuzzHidden(f *testing.F) {}\n",
	}
	for name, src := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	t.Chdir(dir)
	got, err := fuzzTargets(".")
	if err != nil {
		t.Fatal(err)
	}
	want := []fuzzTarget{{"./a", "FuzzA"}, {"./a", "FuzzB"}, {"./b/c", "FuzzC"}}
	if !slices.Equal(got, want) {
		t.Errorf("fuzzTargets = %v, want %v", got, want)
	}
}
