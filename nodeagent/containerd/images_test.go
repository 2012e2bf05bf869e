package containerd_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/shoalmesh/shoal/internal/testenv"
	"github.com/shoalmesh/shoal/nodeagent/containerd"
	"github.com/shoalmesh/shoal/nodeagent/containerd/containerdtest"
	"github.com/shoalmesh/shoal/nodeagent/ociimage"
	"github.com/shoalmesh/shoal/test/imagetest"
)

// TestImagePulls pulls through a docker.io mirror that is a local
// registry, and from a registry with auth with and without credentials.
func TestImagePulls(t *testing.T) {
	testenv.Require(t, testenv.Root, testenv.Containerd)
	mirror := imagetest.StartRegistry(t, imagetest.RegistryOptions{})
	mirror.Push(t, imagetest.Busybox(t), "library/mirrored:1")
	private := imagetest.StartRegistry(t, imagetest.RegistryOptions{Auth: true})
	privateRef := private.Push(t, imagetest.Busybox(t), "private:1")
	rt := containerdtest.Start(t, containerdtest.Options{Registries: containerd.Registries{
		Mirrors: map[string]containerd.Mirror{"docker.io": {Endpoints: []string{"http://" + mirror.Host}}},
	}})
	ctx := t.Context()

	t.Run("mirror", func(t *testing.T) {
		// Short, long and fully qualified names all resolve through the mirror.
		for _, ref := range []string{"mirrored:1", "docker.io/library/mirrored:1"} {
			if _, err := rt.Images.PullImage(ctx, &runtimeapi.ImageSpec{Image: ref}, nil, nil); err != nil {
				t.Fatalf("pull %s through the docker.io mirror: %v", ref, err)
			}
		}
		st, err := rt.Images.ImageStatus(ctx, &runtimeapi.ImageSpec{Image: "docker.io/library/mirrored:1"}, false)
		if err != nil || st.GetImage() == nil {
			t.Fatalf("image status after pull: %v, %v", st, err)
		}
		// A tag the mirror lacks falls through to docker.io itself (as
		// in k3s); offline that fails too.
		if _, err := rt.Images.PullImage(ctx, &runtimeapi.ImageSpec{Image: "docker.io/library/missing:1"}, nil, nil); err == nil {
			t.Errorf("pull of a tag the mirror lacks succeeded")
		}
	})
	t.Run("auth", func(t *testing.T) {
		if _, err := rt.Images.PullImage(ctx, &runtimeapi.ImageSpec{Image: privateRef}, nil, nil); err == nil {
			t.Errorf("pull %s without credentials succeeded", privateRef)
		}
		auth := &runtimeapi.AuthConfig{Username: private.User, Password: private.Password}
		if _, err := rt.Images.PullImage(ctx, &runtimeapi.ImageSpec{Image: privateRef}, auth, nil); err != nil {
			t.Errorf("pull %s with credentials: %v", privateRef, err)
		}
	})
}

// TestImportDir imports an OCI layout and a docker archive, reports a bad
// archive by name without losing the others, and skips unchanged archives
// on the next start.
func TestImportDir(t *testing.T) {
	rt := containerdtest.Start(t, containerdtest.Options{})
	ctx := t.Context()
	dir := t.TempDir()

	oci, err := ociimage.Image{Repository: "shoal.invalid/import-oci", Arch: "amd64",
		Files: []ociimage.File{{Path: "hello", Mode: 0o644, Data: []byte("hi")}}}.Build()
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(filepath.Join(dir, "a-oci.tar"))
	if err != nil {
		t.Fatal(err)
	}
	if err := oci.WriteOCILayout(f); err != nil {
		t.Fatal(err)
	}
	f.Close()
	dockerRef, _ := name.ParseReference("example.invalid/import-docker:1")
	if err := tarball.WriteToFile(filepath.Join(dir, "b-docker.tar"), dockerRef, imagetest.Busybox(t)); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "c-bad.tar"), []byte("not a tar"), 0o644)
	os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("not an image"), 0o644)

	err = rt.ImportDir(ctx, dir)
	if err == nil || !strings.Contains(err.Error(), "c-bad.tar") || strings.Contains(err.Error(), "a-oci.tar") {
		t.Fatalf("ImportDir: %v, want an error naming c-bad.tar only", err)
	}
	for _, ref := range []string{oci.Ref, "example.invalid/import-docker:1"} {
		if ok, err := rt.HasImage(ctx, ref); err != nil || !ok {
			t.Errorf("%s not imported (%v)", ref, err)
		}
	}

	// Unchanged archives are not imported again: with ctr gone only the
	// bad one (imported every time) fails.
	containerd.SetCtr(rt.Runtime, filepath.Join(t.TempDir(), "no-ctr"))
	err = rt.ImportDir(ctx, dir)
	if err == nil || strings.Contains(err.Error(), "a-oci.tar") || strings.Contains(err.Error(), "b-docker.tar") {
		t.Fatalf("second ImportDir: %v, want only c-bad.tar to fail", err)
	}
	// An image removed from the runtime is imported again.
	if err := rt.Images.RemoveImage(ctx, &runtimeapi.ImageSpec{Image: oci.Ref}); err != nil {
		t.Fatal(err)
	}
	if err := rt.ImportDir(ctx, dir); err == nil || !strings.Contains(err.Error(), "a-oci.tar") {
		t.Fatalf("ImportDir after removing %s with ctr gone: %v, want a-oci.tar to be retried", oci.Ref, err)
	}
	containerd.SetCtr(rt.Runtime, "")
	os.Remove(filepath.Join(dir, "c-bad.tar"))
	if err := rt.ImportDir(ctx, dir); err != nil {
		t.Fatal(err)
	}
	if ok, _ := rt.HasImage(ctx, oci.Ref); !ok {
		t.Errorf("%s not imported again", oci.Ref)
	}
}
