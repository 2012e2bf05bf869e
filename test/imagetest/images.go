package imagetest

import (
	"bytes"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"runtime"
	"sync"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/shoalmesh/shoal/internal/testenv"
	"github.com/shoalmesh/shoal/nodeagent/ociimage"
)

// BusyboxApplets are the commands the busybox image links to busybox.
var BusyboxApplets = []string{
	"sh", "id", "cat", "echo", "sleep", "httpd", "nc", "wget", "ls", "touch", "mkdir",
	"env", "hostname", "ps", "kill", "true", "false", "rm", "head", "tail", "grep",
	"sed", "date", "df", "mount", "test", "whoami", "ip", "printf", "timeout",
	"tar", "stty", // kubectl cp runs tar; stty for terminal tests
}

// busyboxPath is Debian's busybox-static.
const busyboxPath = "/usr/bin/busybox"

// Image assembles a one-layer image for this machine's architecture.
func Image(files []ociimage.File, entrypoint, cmd []string) (v1.Image, error) {
	layerTar, err := ociimage.LayerTar(files)
	if err != nil {
		return nil, fmt.Errorf("image layer: %w", err)
	}
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(layerTar)), nil
	})
	if err != nil {
		return nil, fmt.Errorf("image layer: %w", err)
	}
	img, err := mutate.AppendLayers(empty.Image, layer)
	if err != nil {
		return nil, fmt.Errorf("image: %w", err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, fmt.Errorf("image config: %w", err)
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = "linux", runtime.GOARCH
	cf.Config.Entrypoint, cf.Config.Cmd = entrypoint, cmd
	cf.Config.Env = []string{"PATH=/bin:/usr/bin"}
	return mutate.ConfigFile(img, cf)
}

var (
	busyboxOnce sync.Once
	busyboxImg  v1.Image
	busyboxErr  error
)

// Busybox returns an image of Debian's static busybox with the applets in
// BusyboxApplets under /bin, /etc/passwd with root and nobody, a
// world-writable /tmp and an empty /www; its command is sh.
func Busybox(t testing.TB) v1.Image {
	t.Helper()
	testenv.Require(t, testenv.Busybox)
	busyboxOnce.Do(func() {
		bin, err := os.ReadFile(busyboxPath)
		if err != nil {
			busyboxErr = fmt.Errorf("busybox image: %w (install busybox-static)", err)
			return
		}
		files := []ociimage.File{
			{Path: "bin", Mode: fs.ModeDir | 0o755},
			{Path: "bin/busybox", Mode: 0o755, Data: bin},
			{Path: "etc", Mode: fs.ModeDir | 0o755},
			{Path: "etc/passwd", Mode: 0o644, Data: []byte("root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n")},
			{Path: "etc/group", Mode: 0o644, Data: []byte("root:x:0:\nnogroup:x:65534:\n")},
			{Path: "tmp", Mode: fs.ModeDir | fs.ModeSticky | 0o777},
			{Path: "www", Mode: fs.ModeDir | 0o755},
		}
		for _, a := range BusyboxApplets {
			files = append(files, ociimage.File{Path: "bin/" + a, Mode: fs.ModeSymlink | 0o777, Target: "busybox"})
		}
		busyboxImg, busyboxErr = Image(files, nil, []string{"sh"})
	})
	if busyboxErr != nil {
		t.Fatal(busyboxErr)
	}
	return busyboxImg
}

var (
	goMu   sync.Mutex
	goImgs = map[string]v1.Image{}
)

// GoProgram builds the main package pkg (an import path of this module,
// such as "github.com/shoalmesh/shoal/test/images/echoserver") with
// CGO_ENABLED=0 and returns an image whose entrypoint is the static binary
// at /<last element of pkg>. Builds are cached for the test process.
func GoProgram(t testing.TB, pkg string) v1.Image {
	t.Helper()
	goMu.Lock()
	defer goMu.Unlock()
	if img, ok := goImgs[pkg]; ok {
		return img
	}
	name := path.Base(pkg)
	dir, err := os.MkdirTemp("", "shoal-imagetest-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	out := filepath.Join(dir, name)
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags=-s -w", "-o", out, pkg)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+runtime.GOARCH)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build %s: %v\n%s", pkg, err, b)
	}
	bin, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	img, err := Image([]ociimage.File{
		{Path: name, Mode: 0o755, Data: bin},
		{Path: "tmp", Mode: fs.ModeDir | fs.ModeSticky | 0o777},
	}, []string{"/" + name}, nil)
	if err != nil {
		t.Fatal(err)
	}
	goImgs[pkg] = img
	return img
}

// EchoServer is the test HTTP server image (test/images/echoserver).
func EchoServer(t testing.TB) v1.Image {
	return GoProgram(t, "github.com/shoalmesh/shoal/test/images/echoserver")
}
