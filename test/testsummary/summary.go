package main

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"
)

// event is one line of `go test -json` (cmd/test2json), with the build
// events of Go 1.24 and later.
type event struct {
	Action      string
	Package     string
	Test        string
	Output      string
	ImportPath  string // build-output, build-fail
	FailedBuild string // a package's fail because its test binary did not build
}

// key names a test; a package's own output has Test "".
type key struct{ pkg, test string }

// skipped is a skipped test and why.
type skipped struct {
	name, reason string
}

// summary tallies a stream of test events and prints as it goes.
type summary struct {
	w      io.Writer
	module string // trimmed from package names

	output  map[key][]string // held until the test or package ends
	running map[key]bool     // started, not yet ended
	builds  map[string][]string

	passed, failed int
	skips          []skipped
	failedTests    []string
	failedPkgs     []string
	packages       int
}

func newSummary(w io.Writer, module string) *summary {
	return &summary{
		w: w, module: module,
		output:  map[key][]string{},
		running: map[key]bool{},
		builds:  map[string][]string{},
	}
}

// failures counts failed tests, packages and builds so far.
func (s *summary) failures() int { return s.failed + len(s.failedPkgs) }

// line takes one line of the stream; a line that is not a JSON event (the
// go command's own messages) is printed as it is.
func (s *summary) line(b []byte) {
	var e event
	if len(b) == 0 || b[0] != '{' || json.Unmarshal(b, &e) != nil || e.Action == "" {
		s.w.Write(b)
		return
	}
	s.event(e)
}

func (s *summary) event(e event) {
	switch e.Action {
	case "build-output":
		s.builds[e.ImportPath] = append(s.builds[e.ImportPath], e.Output)
		return
	case "build-fail":
		fmt.Fprint(s.w, strings.Join(s.builds[e.ImportPath], ""))
		delete(s.builds, e.ImportPath)
		return
	}
	k := key{e.Package, e.Test}
	switch e.Action {
	case "start":
	case "run":
		s.running[k] = true
	case "output":
		s.output[k] = append(s.output[k], e.Output)
	case "pass", "fail", "skip":
		if e.Test == "" {
			s.packageEnd(e)
		} else {
			s.testEnd(k, e.Action)
		}
	}
}

func (s *summary) testEnd(k key, action string) {
	out := s.output[k]
	delete(s.output, k)
	delete(s.running, k)
	switch action {
	case "pass":
		s.passed++
	case "fail":
		s.failed++
		s.failedTests = append(s.failedTests, s.name(k))
		fmt.Fprint(s.w, strings.Join(out, ""))
	case "skip":
		s.skips = append(s.skips, skipped{s.name(k), skipReason(out)})
	}
}

func (s *summary) packageEnd(e event) {
	k := key{e.Package, ""}
	out := s.output[k]
	delete(s.output, k)
	if e.Action == "skip" { // no test files
		return
	}
	s.packages++
	if e.Action == "pass" {
		// Only the "ok  pkg  1.2s" line: the rest is TestMain's chatter.
		for _, l := range out {
			if strings.HasPrefix(l, "ok ") || strings.HasPrefix(l, "ok\t") {
				fmt.Fprint(s.w, l)
			}
		}
		return
	}
	name := s.trim(e.Package)
	if e.FailedBuild != "" {
		name += " (build failed)"
	}
	s.failedPkgs = append(s.failedPkgs, name)
	// A package that fails outside a test (a panic, a timeout, TestMain,
	// a build): what it printed, and the output of tests that never ended.
	for t := range s.running {
		if t.pkg != e.Package {
			continue
		}
		fmt.Fprintf(s.w, "--- %s did not finish:\n%s", s.name(t), strings.Join(s.output[t], ""))
		s.failed++
		s.failedTests = append(s.failedTests, s.name(t)+" (did not finish)")
		delete(s.running, t)
		delete(s.output, t)
	}
	fmt.Fprint(s.w, strings.Join(out, ""))
}

// skipReason is what a skipped test printed besides the framework's lines.
func skipReason(out []string) string {
	var why []string
	for _, l := range out {
		l = strings.TrimSpace(l)
		switch {
		case l == "", strings.HasPrefix(l, "=== "), strings.HasPrefix(l, "--- SKIP"):
			continue
		}
		why = append(why, l)
	}
	if len(why) == 0 {
		return "(no reason given)"
	}
	return strings.Join(why, " | ")
}

func (s *summary) trim(pkg string) string {
	if s.module == "" {
		return pkg
	}
	if pkg == s.module {
		return "."
	}
	if rest, ok := strings.CutPrefix(pkg, s.module+"/"); ok {
		return "./" + rest
	}
	return pkg
}

func (s *summary) name(k key) string { return s.trim(k.pkg) + " " + k.test }

// finish prints the skipped and failed tests and the summary line, and
// reports whether everything passed.
func (s *summary) finish(elapsed time.Duration) bool {
	// Tests whose package never reported an end: the stream was cut.
	var unfinished []string
	for k := range s.running {
		unfinished = append(unfinished, s.name(k))
	}
	slices.Sort(unfinished)
	for _, n := range unfinished {
		s.failed++
		s.failedTests = append(s.failedTests, n+" (no result: the stream ended)")
	}
	if len(s.skips) > 0 {
		fmt.Fprintf(s.w, "\nSkipped tests (%d):\n", len(s.skips))
		slices.SortFunc(s.skips, func(a, b skipped) int { return strings.Compare(a.name, b.name) })
		for _, sk := range s.skips {
			fmt.Fprintf(s.w, "  %s: %s\n", sk.name, sk.reason)
		}
	}
	if len(s.failedTests) > 0 || len(s.failedPkgs) > 0 {
		fmt.Fprintf(s.w, "\nFailed tests (%d) and packages (%d):\n", len(s.failedTests), len(s.failedPkgs))
		for _, n := range s.failedTests {
			fmt.Fprintf(s.w, "  FAIL %s\n", n)
		}
		for _, p := range s.failedPkgs {
			fmt.Fprintf(s.w, "  FAIL %s\n", p)
		}
	}
	ok := s.failures() == 0 && s.packages > 0
	verdict := "PASS"
	if !ok {
		verdict = "FAIL"
	}
	fmt.Fprintf(s.w, "\n%s: %d tests: %d passed, %d failed, %d skipped; %d packages, %d failed; %s\n",
		verdict, s.passed+s.failed+len(s.skips), s.passed, s.failed, len(s.skips), s.packages, len(s.failedPkgs), elapsed.Round(time.Second))
	return ok
}
