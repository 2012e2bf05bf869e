package volume

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/shoalmesh/shoal/internal/testenv"
)

// readVolume reads what a container sees: every file reachable from the
// top-level names, by path.
func readVolume(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), "..") {
			continue
		}
		top := filepath.Join(dir, e.Name())
		if st, err := os.Stat(top); err == nil && !st.IsDir() {
			b, _ := os.ReadFile(top)
			out[e.Name()] = string(b)
			continue
		}
		filepath.WalkDir(top+"/", func(p string, d os.DirEntry, err error) error {
			if err == nil && !d.IsDir() {
				b, _ := os.ReadFile(p)
				rel, _ := filepath.Rel(dir, filepath.Clean(p))
				out[rel] = string(b)
			}
			return nil
		})
	}
	return out
}

func TestWriteAtomic(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "vol")
	v1 := map[string]File{"a": {Data: []byte("1")}, "sub/b": {Data: []byte("2"), Mode: 0o600}}
	if err := WriteAtomic(dir, v1); err != nil {
		t.Fatal(err)
	}
	if got := readVolume(t, dir); len(got) != 2 || got["a"] != "1" || got["sub/b"] != "2" {
		t.Fatalf("version 1: %v", got)
	}
	if st, err := os.Stat(filepath.Join(dir, "sub/b")); err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("sub/b mode %v, %v; want 0600", st.Mode(), err)
	}
	data1, _ := os.Readlink(filepath.Join(dir, dataDirName))

	// The same payload changes nothing; a new one replaces it whole, and
	// names it no longer has disappear.
	if err := WriteAtomic(dir, v1); err != nil {
		t.Fatal(err)
	}
	if again, _ := os.Readlink(filepath.Join(dir, dataDirName)); again != data1 {
		t.Errorf("an unchanged payload made a new version (%s after %s)", again, data1)
	}
	v2 := map[string]File{"a": {Data: []byte("one")}, "c": {Data: []byte("3")}}
	if err := WriteAtomic(dir, v2); err != nil {
		t.Fatal(err)
	}
	if got := readVolume(t, dir); len(got) != 2 || got["a"] != "one" || got["c"] != "3" {
		t.Fatalf("version 2: %v", got)
	}
	// The replaced version stays for oldVersionGrace (readers that
	// resolved ..data before the swap still read it), then goes.
	testenv.Eventually(t, 10*oldVersionGrace, "the replaced version removed", func() error {
		entries, _ := os.ReadDir(dir)
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		if len(names) != 4 || !slices.Contains(names, dataDirName) || slices.Contains(names, filepath.Base(data1)) || slices.Contains(names, "sub") {
			return fmt.Errorf("the volume holds %v; want ..data, one version and a, c", names)
		}
		return nil
	})
	for _, bad := range []string{"/abs", "../up", "..data", "a/../b", ""} {
		if err := WriteAtomic(dir, map[string]File{bad: {}}); err == nil {
			t.Errorf("path %q accepted", bad)
		}
	}
	if got := readVolume(t, dir); got["a"] != "one" {
		t.Errorf("a refused payload changed the volume: %v", got)
	}
}

// Readers never see a mix of two versions, nor a missing file, while the
// writer swaps versions as fast as it can.
func TestWriteAtomicReadersSeeOneVersion(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "vol")
	version := func(v string) map[string]File {
		return map[string]File{"x": {Data: []byte(v)}, "y": {Data: []byte(v)}}
	}
	if err := WriteAtomic(dir, version("0")); err != nil {
		t.Fatal(err)
	}
	var stop atomic.Bool
	var wg sync.WaitGroup
	var torn, missing atomic.Int64
	for range 2 {
		wg.Go(func() {
			for !stop.Load() {
				// Read through ..data once, as a program that opens the
				// directory would: both files of one version.
				target, err := os.Readlink(filepath.Join(dir, dataDirName))
				if err != nil {
					missing.Add(1)
					continue
				}
				x, err1 := os.ReadFile(filepath.Join(dir, target, "x"))
				y, err2 := os.ReadFile(filepath.Join(dir, target, "y"))
				if err1 != nil || err2 != nil {
					continue // an old version removed while read: the next read sees the new one
				}
				if string(x) != string(y) {
					torn.Add(1)
				}
				if _, err := os.ReadFile(filepath.Join(dir, "x")); err != nil {
					missing.Add(1)
				}
			}
		})
	}
	for i := 1; i <= 300; i++ {
		if err := WriteAtomic(dir, version(strings.Repeat("v", i%7+1)+string(rune('a'+i%26)))); err != nil {
			t.Fatal(err)
		}
	}
	stop.Store(true)
	wg.Wait()
	if torn.Load() > 0 || missing.Load() > 0 {
		t.Errorf("readers saw %d torn versions and %d missing files", torn.Load(), missing.Load())
	}
}
