package volume

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	corev1 "k8s.io/api/core/v1"
)

// HostPath checks (or, for the ...OrCreate types, creates) a hostPath
// volume's path by its type, with the kubelet's words for a mismatch.
func HostPath(path string, typ *corev1.HostPathType) error {
	if !filepath.IsAbs(path) {
		return fmt.Errorf("hostPath %q: must be an absolute path", path)
	}
	t := corev1.HostPathUnset
	if typ != nil {
		t = *typ
	}
	st, err := os.Stat(path)
	missing := errors.Is(err, fs.ErrNotExist)
	if err != nil && !missing {
		return fmt.Errorf("hostPath %s: %w", path, err)
	}
	switch t {
	case corev1.HostPathUnset:
		return nil
	case corev1.HostPathDirectoryOrCreate:
		if missing {
			return os.MkdirAll(path, 0o755)
		}
		if !st.IsDir() {
			return fmt.Errorf("hostPath type check failed: %s is not a directory", path)
		}
	case corev1.HostPathFileOrCreate:
		if missing {
			if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
				return err
			}
			f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY, 0o644)
			if err != nil {
				return err
			}
			return f.Close()
		}
		if !st.Mode().IsRegular() {
			return fmt.Errorf("hostPath type check failed: %s is not a file", path)
		}
	case corev1.HostPathDirectory, corev1.HostPathFile, corev1.HostPathSocket, corev1.HostPathCharDev, corev1.HostPathBlockDev:
		if missing {
			return fmt.Errorf("hostPath type check failed: %s does not exist", path)
		}
		if want, ok := typeChecks[t]; ok && !want.is(st.Mode()) {
			return fmt.Errorf("hostPath type check failed: %s is not a %s", path, want.name)
		}
	default:
		return fmt.Errorf("hostPath %s: unknown type %q", path, t)
	}
	return nil
}

type typeCheck struct {
	name string
	is   func(fs.FileMode) bool
}

var typeChecks = map[corev1.HostPathType]typeCheck{
	corev1.HostPathDirectory: {"directory", fs.FileMode.IsDir},
	corev1.HostPathFile:      {"file", fs.FileMode.IsRegular},
	corev1.HostPathSocket:    {"socket", func(m fs.FileMode) bool { return m&fs.ModeSocket != 0 }},
	corev1.HostPathCharDev:   {"character device", func(m fs.FileMode) bool { return m&fs.ModeCharDevice != 0 }},
	corev1.HostPathBlockDev: {"block device", func(m fs.FileMode) bool {
		return m&fs.ModeDevice != 0 && m&fs.ModeCharDevice == 0
	}},
}
