package volume

import (
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

func TestHostPath(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "file")
	os.WriteFile(file, []byte("x"), 0o644)
	sock := filepath.Join(dir, "sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	typ := func(t corev1.HostPathType) *corev1.HostPathType { return &t }
	for _, tc := range []struct {
		path    string
		typ     *corev1.HostPathType
		wantErr string
	}{
		{filepath.Join(dir, "missing"), nil, ""},
		{dir, typ(corev1.HostPathDirectory), ""},
		{file, typ(corev1.HostPathDirectory), "is not a directory"},
		{filepath.Join(dir, "missing"), typ(corev1.HostPathDirectory), "does not exist"},
		{file, typ(corev1.HostPathFile), ""},
		{dir, typ(corev1.HostPathFile), "is not a file"},
		{sock, typ(corev1.HostPathSocket), ""},
		{file, typ(corev1.HostPathSocket), "is not a socket"},
		{"/dev/null", typ(corev1.HostPathCharDev), ""},
		{file, typ(corev1.HostPathBlockDev), "is not a block device"},
		{filepath.Join(dir, "made/dir"), typ(corev1.HostPathDirectoryOrCreate), ""},
		{file, typ(corev1.HostPathDirectoryOrCreate), "is not a directory"},
		{filepath.Join(dir, "made/file"), typ(corev1.HostPathFileOrCreate), ""},
		{dir, typ(corev1.HostPathFileOrCreate), "is not a file"},
		{"relative", nil, "absolute"},
		{dir, typ("Weird"), "unknown type"},
	} {
		err := HostPath(tc.path, tc.typ)
		if (err == nil) != (tc.wantErr == "") || err != nil && !strings.Contains(err.Error(), tc.wantErr) {
			t.Errorf("HostPath(%s, %v) = %v, want %q", tc.path, tc.typ, err, tc.wantErr)
		}
	}
	if st, err := os.Stat(filepath.Join(dir, "made/dir")); err != nil || !st.IsDir() {
		t.Errorf("DirectoryOrCreate made %v, %v", st, err)
	}
	if st, err := os.Stat(filepath.Join(dir, "made/file")); err != nil || !st.Mode().IsRegular() {
		t.Errorf("FileOrCreate made %v, %v", st, err)
	}
}
