package podlog

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// Files lists the files of the log at path oldest first: path.N … path.1
// (rotated away, newest last) and path itself. Missing files are not
// listed; a missing directory is no error.
func Files(path string) ([]string, error) {
	dir, base := filepath.Dir(path), filepath.Base(path)
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	type file struct {
		name string
		n    int
	}
	var files []file
	for _, e := range entries {
		name := e.Name()
		if name == base {
			files = append(files, file{name, 0})
		} else if s, ok := strings.CutPrefix(name, base+"."); ok {
			if n, err := strconv.Atoi(s); err == nil && n > 0 {
				files = append(files, file{name, n})
			}
		}
	}
	sort.Slice(files, func(i, j int) bool { return files[i].n > files[j].n })
	out := make([]string, len(files))
	for i, f := range files {
		out[i] = filepath.Join(dir, f.name)
	}
	return out, nil
}

// Rotate renames path.k to path.k+1 (removing those beyond maxFiles-1) and
// path to path.1. The runtime keeps writing to the renamed file until it
// is told to reopen the log (CRI ReopenContainerLog); a follower notices
// the rename by the inode at path.
func Rotate(path string, maxFiles int) error {
	maxFiles = max(maxFiles, 2)
	files, err := Files(path)
	if err != nil {
		return fmt.Errorf("rotate %s: %w", path, err)
	}
	for _, f := range files {
		n := rotatedIndex(path, f)
		if n >= maxFiles-1 {
			if err := os.Remove(f); err != nil && !errors.Is(err, os.ErrNotExist) {
				return fmt.Errorf("rotate %s: %w", path, err)
			}
		}
	}
	for i := maxFiles - 2; i >= 0; i-- {
		err := os.Rename(rotatedName(path, i), rotatedName(path, i+1))
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("rotate %s: %w", path, err)
		}
	}
	return nil
}

func rotatedName(path string, i int) string {
	if i == 0 {
		return path
	}
	return path + "." + strconv.Itoa(i)
}

// rotatedIndex is k of path.k, 0 for path itself.
func rotatedIndex(path, f string) int {
	n, _ := strconv.Atoi(strings.TrimPrefix(f, path+"."))
	return n
}
