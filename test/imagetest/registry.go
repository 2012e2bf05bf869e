// Package imagetest builds container images for tests and serves them
// from a real registry: Debian's docker-registry (distribution 2.8) on a
// free loopback port, with storage in the test's temp dir and optional
// htpasswd auth. Images are built with go-containerregistry from static
// binaries: busybox-static and Go programs of this module compiled with
// CGO_ENABLED=0 at test time (cached for the test process; nothing built is
// ever committed).
//
//	reg := imagetest.StartRegistry(t, imagetest.RegistryOptions{})
//	ref := reg.Push(t, imagetest.Busybox(t), "busybox:1")
//	// ref is "127.0.0.1:<port>/busybox:1", pullable over plain HTTP
package imagetest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"golang.org/x/crypto/bcrypt"

	"github.com/shoalmesh/shoal/internal/testenv"
)

// RegistryOptions configure StartRegistry.
type RegistryOptions struct {
	// Auth turns on htpasswd basic auth with a random user and password.
	Auth bool
}

// Registry is a running docker-registry.
type Registry struct {
	// Host is "127.0.0.1:<port>", the registry part of image references.
	Host string
	// User and Password are set when the registry requires auth.
	User, Password string

	stop func()
}

// StartRegistry starts docker-registry for t; it is stopped in t.Cleanup.
func StartRegistry(t testing.TB, opts RegistryOptions) *Registry {
	t.Helper()
	testenv.Require(t, testenv.Registry)
	r, err := Serve(t.TempDir(), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.Stop)
	return r
}

// Serve starts docker-registry with its storage and config in dir, for
// code that is not a test (a benchmark); Stop stops it.
func Serve(dir string, opts RegistryOptions) (*Registry, error) {
	r := &Registry{}
	auth := ""
	if opts.Auth {
		r.User, r.Password = "shoal-"+randomHex(4), randomHex(12)
		hash, err := bcrypt.GenerateFromPassword([]byte(r.Password), bcrypt.DefaultCost)
		if err != nil {
			return nil, err
		}
		htpasswd := filepath.Join(dir, "htpasswd")
		if err := os.WriteFile(htpasswd, []byte(r.User+":"+string(hash)+"\n"), 0o600); err != nil {
			return nil, err
		}
		auth = fmt.Sprintf("auth:\n  htpasswd:\n    realm: shoal-test\n    path: %s\n", htpasswd)
	}
	// A free port can be taken between the probe and the registry's
	// listen: try a few.
	var lastErr error
	for attempt := 0; attempt < 5; attempt++ {
		port, err := testenv.FindPort("127.0.0.1")
		if err != nil {
			return nil, err
		}
		r.Host = "127.0.0.1:" + strconv.Itoa(port)
		config := fmt.Sprintf(`version: 0.1
log:
  level: warn
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: %s
  delete:
    enabled: true
http:
  addr: %s
  secret: %s
%s`, filepath.Join(dir, "storage"), r.Host, randomHex(16), auth)
		cfgPath := filepath.Join(dir, "config.yml")
		if err := os.WriteFile(cfgPath, []byte(config), 0o600); err != nil {
			return nil, err
		}
		if lastErr = r.start(cfgPath); lastErr == nil {
			return r, nil
		}
	}
	return nil, fmt.Errorf("start docker-registry: %w", lastErr)
}

func (r *Registry) start(cfgPath string) error {
	var log bytes.Buffer
	cmd := exec.Command("docker-registry", "serve", cfgPath)
	cmd.Stdout, cmd.Stderr = &log, &log
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return err
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	deadline := time.Now().Add(15 * time.Second)
	for {
		resp, err := http.Get("http://" + r.Host + "/v2/")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK || resp.StatusCode == http.StatusUnauthorized {
				break
			}
		}
		select {
		case err := <-done:
			return fmt.Errorf("docker-registry exited: %v: %s", err, log.String())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			<-done
			return fmt.Errorf("docker-registry not answering on %s after 15s: %s", r.Host, log.String())
		}
	}
	r.stop = func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			cmd.Process.Kill()
			<-done
		}
	}
	return nil
}

// Stop stops the registry.
func (r *Registry) Stop() {
	if r.stop != nil {
		r.stop()
	}
}

// Push pushes img as repoTag ("name:tag") and returns the full reference.
func (r *Registry) Push(t testing.TB, img v1.Image, repoTag string) string {
	t.Helper()
	ref, err := r.PushImage(context.Background(), img, repoTag)
	if err != nil {
		t.Fatal(err)
	}
	return ref
}

// PushImage pushes img as repoTag ("name:tag") and returns the full
// reference.
func (r *Registry) PushImage(ctx context.Context, img v1.Image, repoTag string) (string, error) {
	ref, err := name.ParseReference(r.Host+"/"+repoTag, name.Insecure)
	if err != nil {
		return "", fmt.Errorf("push %s: %w", repoTag, err)
	}
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	auth := authn.Anonymous
	if r.User != "" {
		auth = &authn.Basic{Username: r.User, Password: r.Password}
	}
	if err := remote.Write(ref, img, remote.WithAuth(auth), remote.WithContext(ctx)); err != nil {
		return "", fmt.Errorf("push %s: %w", ref, err)
	}
	return ref.String(), nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}
