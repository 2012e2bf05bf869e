// Command podstart measures pod start-up on a real node agent: `shoal up`
// (as root, with its agent and containerd) as a child process; pods of a
// tiny HTTP server behind a headless Service, created one by one at a
// steady rate and then as a burst, from a cached image (imported into
// containerd at start, as an air-gapped node's) and as image-less pods
// running a command of the node (busybox httpd); for each pod the time
// from its create call to Running+Ready (seen by a watch), to its IP in the
// cluster DNS answer, and to its IP in the Service's xDS assignment. Then
// it times a cold pull of a ~10 MB image from a registry on loopback.
// `make bench-podstart` runs it.
package main

import (
	"context"
	"crypto/rand"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	corev1 "k8s.io/api/core/v1"

	"github.com/shoalmesh/shoal/nodeagent"
	"github.com/shoalmesh/shoal/nodeagent/ociimage"
	"github.com/shoalmesh/shoal/test/bench/benchenv"
	"github.com/shoalmesh/shoal/test/imagetest"
)

// server is the pods' program: it answers HTTP 200 on :8080.
const server = `package main

import "net/http"

func main() {
	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok")) })
	http.ListenAndServe(":8080", nil)
}
`

// cachedImage is the name the server's image is imported under.
const cachedImage = "shoal.bench/server:1"

func main() {
	pods := flag.Int("pods", 100, "pods per run")
	rate := flag.Float64("rate", 10, "pods created per second in the steady runs")
	timeout := flag.Duration("timeout", 10*time.Minute, "give up after this long")
	flag.Parse()
	if err := nodeagent.Preflight(""); err != nil {
		fmt.Printf("| pod start-up on the real agent | not measured: %v |\n", err)
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	if err := run(ctx, *pods, *rate); err != nil {
		fmt.Fprintln(os.Stderr, "podstart:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, n int, rate float64) error {
	dir, err := os.MkdirTemp("", "shoal-podstart-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	img, big, err := images(ctx, dir)
	if err != nil {
		return err
	}
	reg, err := imagetest.Serve(dir, imagetest.RegistryOptions{})
	if err != nil {
		return err
	}
	defer reg.Stop()
	bigRef, err := reg.PushImage(ctx, big, "bench/big:1")
	if err != nil {
		return err
	}
	sh, err := benchenv.StartShoal(ctx, benchenv.ShoalOptions{Prefix: "podstart-", Agent: "on", Prepare: func(data string) error {
		return writeArchive(filepath.Join(data, "images", "server.tar"), cachedImage, img)
	}})
	if err != nil {
		return err
	}
	defer sh.Stop()
	h, err := newHarness(ctx, sh)
	if err != nil {
		return err
	}
	kinds := []struct {
		id, label string
		c         corev1.Container
	}{
		{"img", "a cached image", corev1.Container{Image: cachedImage, ImagePullPolicy: corev1.PullIfNotPresent}},
		{"host", "a host command (no image)", hostCommand()},
	}
	var results []runResult
	for _, k := range kinds {
		for _, r := range []float64{rate, 0} {
			id := k.id + "-steady"
			if r == 0 {
				id = k.id + "-burst"
			}
			res, err := h.measure(ctx, id, n, r, k.c)
			if err != nil {
				return err
			}
			res.kind, res.burst = k.label, r == 0
			results = append(results, res)
		}
	}
	cold, err := h.coldPull(ctx, bigRef)
	if err != nil {
		return err
	}
	report(results, rate, cold, loadAverage())
	return nil
}

// images builds the server's image and a ~10 MB one (the server and 10 MB
// that do not compress) for the cold pull.
func images(ctx context.Context, dir string) (v1.Image, v1.Image, error) {
	if err := os.WriteFile(filepath.Join(dir, "main.go"), []byte(server), 0o644); err != nil {
		return nil, nil, err
	}
	bin := filepath.Join(dir, "server")
	build := exec.CommandContext(ctx, "go", "build", "-trimpath", "-ldflags=-s -w", "-o", bin, "main.go")
	build.Dir, build.Env = dir, append(os.Environ(), "GO111MODULE=off", "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		return nil, nil, fmt.Errorf("build the pods' server: %v\n%s", err, out)
	}
	b, err := os.ReadFile(bin)
	if err != nil {
		return nil, nil, err
	}
	files := []ociimage.File{{Path: "server", Mode: 0o755, Data: b}}
	img, err := imagetest.Image(files, []string{"/server"}, nil)
	if err != nil {
		return nil, nil, err
	}
	blob := make([]byte, 10<<20)
	rand.Read(blob)
	big, err := imagetest.Image(append(files, ociimage.File{Path: "blob", Mode: 0o644, Data: blob}), []string{"/server"}, nil)
	return img, big, err
}

func writeArchive(path, ref string, img v1.Image) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	tag, err := name.NewTag(ref)
	if err != nil {
		return err
	}
	return tarball.WriteToFile(path, tag, img)
}

// hostCommand is an image-less container: the node's busybox httpd (or
// python3's http.server without it).
func hostCommand() corev1.Container {
	if _, err := exec.LookPath("busybox"); err == nil {
		return corev1.Container{Command: []string{"busybox", "httpd", "-f", "-p", "8080", "-h", "/tmp"}}
	}
	return corev1.Container{Command: []string{"python3", "-m", "http.server", "8080"}}
}

// loadAverage is /proc/loadavg's first three fields (the machine is shared).
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	var a, b5, c string
	fmt.Sscan(string(b), &a, &b5, &c)
	return a + " " + b5 + " " + c
}
