package volume

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// Names the atomic writer uses in its directory.
const (
	dataDirName    = "..data"
	newDataDirName = "..data_tmp"
)

// File is one file of a volume's payload.
type File struct {
	Data []byte
	Mode fs.FileMode // default 0644
	// Chown gives the file to UID and GID (kubelet's fsUser, fsGroup);
	// else it is the writer's.
	Chown    bool
	UID, GID int
}

// WriteAtomic makes dir hold exactly payload (relative paths, possibly
// with subdirectories, to files), replacing what it held in one atomic
// step: readers see the old version or the new one, never a mix. Paths
// must be relative, clean, not start with "..", and not be "..data".
func WriteAtomic(dir string, payload map[string]File) error {
	for p := range payload {
		if err := checkPath(p); err != nil {
			return fmt.Errorf("write volume %s: path %q: %w", dir, p, err)
		}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("write volume %s: %w", dir, err)
	}
	oldTS, _ := os.Readlink(filepath.Join(dir, dataDirName))
	if oldTS != "" && sameContent(filepath.Join(dir, oldTS), payload) {
		return nil
	}
	ts, err := os.MkdirTemp(dir, time.Now().UTC().Format("..2006_01_02_15_04_05."))
	if err != nil {
		return fmt.Errorf("write volume %s: %w", dir, err)
	}
	if err := os.Chmod(ts, 0o755); err != nil {
		return fmt.Errorf("write volume %s: %w", dir, err)
	}
	for p, f := range payload {
		if err := writeFile(filepath.Join(ts, p), f); err != nil {
			os.RemoveAll(ts)
			return fmt.Errorf("write volume %s: %w", dir, err)
		}
	}
	tmp := filepath.Join(dir, newDataDirName)
	os.Remove(tmp)
	if err := os.Symlink(filepath.Base(ts), tmp); err != nil {
		os.RemoveAll(ts)
		return fmt.Errorf("write volume %s: %w", dir, err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, dataDirName)); err != nil {
		os.RemoveAll(ts)
		return fmt.Errorf("write volume %s: %w", dir, err)
	}
	if err := linkTopLevel(dir, payload); err != nil {
		return fmt.Errorf("write volume %s: %w", dir, err)
	}
	removeOldVersions(dir, filepath.Base(ts), oldTS)
	return nil
}

// oldVersionGrace is how long a replaced version stays on disk. A reader
// that resolved ..data (or a top-level link through it) just before the
// swap still opens its files in the old version: removing it at once, as
// the kubelet does, leaves such a reader a missing file.
const oldVersionGrace = time.Second

// removeOldVersions removes the versions in dir other than current that
// were replaced more than oldVersionGrace ago, and removes previous (the
// version current replaced) once its grace has passed, unless a later
// write made it current again.
func removeOldVersions(dir, current, previous string) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	// Every version other than current and previous was replaced no later
	// than previous was written.
	replacedLongAgo := false
	if previous != "" {
		if fi, err := os.Lstat(filepath.Join(dir, previous)); err == nil {
			replacedLongAgo = time.Since(fi.ModTime()) > oldVersionGrace
		}
	}
	for _, e := range entries {
		name := e.Name()
		if !e.IsDir() || !strings.HasPrefix(name, "..") || name == current || name == previous {
			continue
		}
		if replacedLongAgo {
			os.RemoveAll(filepath.Join(dir, name))
		}
	}
	if previous == "" || previous == current {
		return
	}
	time.AfterFunc(oldVersionGrace, func() {
		if cur, err := os.Readlink(filepath.Join(dir, dataDirName)); err == nil && cur != previous {
			os.RemoveAll(filepath.Join(dir, previous))
		}
	})
}

func checkPath(p string) error {
	switch {
	case p == "" || filepath.IsAbs(p):
		return errors.New("must be a relative path")
	case filepath.Clean(p) != p:
		return errors.New("must be clean")
	case strings.HasPrefix(p, ".."):
		return errors.New("must not start with ..")
	}
	return nil
}

func writeFile(path string, f File) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	mode := f.Mode
	if mode == 0 {
		mode = 0o644
	}
	if err := os.WriteFile(path, f.Data, mode); err != nil {
		return err
	}
	if err := os.Chmod(path, mode); err != nil { // the umask does not apply
		return err
	}
	if f.Chown {
		return os.Lchown(path, f.UID, f.GID)
	}
	return nil
}

// linkTopLevel points dir/<first element> at ..data/<first element> for
// each path of payload and removes links of earlier versions' elements.
func linkTopLevel(dir string, payload map[string]File) error {
	want := map[string]bool{}
	for p := range payload {
		want[strings.SplitN(p, string(filepath.Separator), 2)[0]] = true
	}
	for name := range want {
		link := filepath.Join(dir, name)
		target := filepath.Join(dataDirName, name)
		if cur, err := os.Readlink(link); err == nil && cur == target {
			continue
		}
		os.Remove(link)
		if err := os.Symlink(target, link); err != nil {
			return err
		}
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if name := e.Name(); !strings.HasPrefix(name, "..") && !want[name] && e.Type()&fs.ModeSymlink != 0 {
			os.Remove(filepath.Join(dir, name))
		}
	}
	return nil
}

// sameContent reports whether the version in dir holds exactly payload.
func sameContent(dir string, payload map[string]File) bool {
	var have []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		have = append(have, rel)
		return nil
	})
	if err != nil || len(have) != len(payload) {
		return false
	}
	for _, p := range have {
		f, ok := payload[p]
		if !ok {
			return false
		}
		b, err := os.ReadFile(filepath.Join(dir, p))
		st, serr := os.Stat(filepath.Join(dir, p))
		mode := f.Mode
		if mode == 0 {
			mode = 0o644
		}
		if err != nil || serr != nil || !slices.Equal(b, f.Data) || st.Mode().Perm() != mode.Perm() {
			return false
		}
	}
	return true
}
