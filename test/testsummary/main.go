// Command testsummary runs `go test -json` (or reads its stream from stdin)
// and makes the result readable: each failing test's output as it fails,
// each package's ok or FAIL line, and at the end every skipped test with its
// reason and one summary line of passed, failed and skipped tests. It exits
// non-zero if a test, a package or a build failed, or go test did.
//
//	go run ./test/testsummary go test -json -race -count=1 ./...
//	go test -json ./... | go run ./test/testsummary
//
// With -fuzz=10s it then fuzzes every fuzz target of the module in the
// current directory for that long, one `go test -fuzz` per target (it
// accepts only one), and counts them in the same summary; a crasher it
// finds is written to the package's testdata/fuzz, as go test does.
//
// `make test` runs it, so a CI log ends with what ran, what failed and what
// was skipped and why: a test that skips for a missing capability shows
// here instead of hiding in a green run (see internal/testenv).
package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"time"
)

func main() {
	fuzztime := flag.Duration("fuzz", 0, "after the tests, fuzz each fuzz target of the module for this long")
	flag.Usage = func() {
		fmt.Fprintln(os.Stderr, "usage: testsummary [-fuzz=d] [go test -json ...]  (or the JSON stream on stdin)")
		flag.PrintDefaults()
	}
	flag.Parse()
	start := time.Now()
	s := newSummary(os.Stdout, modulePath("go.mod"))
	goBin := "go"
	var errs []error
	if args := flag.Args(); len(args) > 0 {
		goBin = args[0]
		errs = append(errs, run(s, args[0], args[1:]...))
	} else {
		errs = append(errs, read(s, os.Stdin))
	}
	if *fuzztime > 0 {
		targets, err := fuzzTargets(".")
		errs = append(errs, err)
		for _, ft := range targets {
			errs = append(errs, run(s, goBin, "test", "-json", "-run=^$", "-fuzz=^"+ft.name+"$",
				"-fuzztime="+fuzztime.String(), ft.pkg))
		}
	}
	ok := s.finish(time.Since(start))
	if err := errors.Join(errs...); err != nil {
		fmt.Fprintln(os.Stdout, "testsummary:", err)
		ok = false
	}
	if !ok {
		os.Exit(1)
	}
}

// run runs name with args, its stderr to ours, and feeds s its stdout.
func run(s *summary, name string, args ...string) error {
	cmd := exec.Command(name, args...)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", name, err)
	}
	before := s.failures()
	readErr := read(s, out)
	if err := cmd.Wait(); err != nil {
		var exit *exec.ExitError
		if errors.As(err, &exit) && s.failures() > before {
			return nil // go test exits 1 for the failures just reported
		}
		return fmt.Errorf("%s: %w", strings.Join(append([]string{name}, args...), " "), err)
	}
	return readErr
}

// read feeds s every line of r.
func read(s *summary, r io.Reader) error {
	br := bufio.NewReaderSize(r, 1<<20)
	for {
		line, err := br.ReadBytes('\n')
		if len(line) > 0 {
			s.line(line)
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("read the test stream: %w", err)
		}
	}
}

// modulePath is the module line of the go.mod at path, or "" (package
// names are then printed whole).
func modulePath(path string) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	for _, l := range strings.Split(string(data), "\n") {
		if m, ok := strings.CutPrefix(strings.TrimSpace(l), "module "); ok {
			return strings.Trim(strings.TrimSpace(m), `"`)
		}
	}
	return ""
}
