package containerd

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"time"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/shoalmesh/shoal/nodeagent/ociimage"
)

// Namespace is the containerd namespace the CRI plugin keeps its images
// and containers in.
const Namespace = "k8s.io"

// importTimeout bounds one ctr import (a large air-gap archive unpacks
// for a while).
const importTimeout = 10 * time.Minute

// unpackedName matches ctr's "unpacking <name> (sha256:…)...done" lines.
var unpackedName = regexp.MustCompile(`(?m)^unpacking (\S+) \(sha256:[0-9a-f]+\)`)

// Import imports an image archive (an OCI layout tar or a `docker save`
// tar) into the CRI namespace with ctr and unpacks it, and returns the
// names of the images it held. It works only with containerd.
func (r *Runtime) Import(ctx context.Context, archive string) ([]string, error) {
	ctx, cancel := context.WithTimeout(ctx, importTimeout)
	defer cancel()
	args := []string{"--address", r.Address(), "--namespace", Namespace, "images", "import"}
	if r.snapshotter != "" {
		args = append(args, "--snapshotter", r.snapshotter)
	}
	args = append(args, archive)
	cmd := exec.CommandContext(ctx, r.ctrBinary(), args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("import %s: %w: %s", archive, err, strings.TrimSpace(out.String()))
	}
	var names []string
	for _, m := range unpackedName.FindAllStringSubmatch(out.String(), -1) {
		names = append(names, m[1])
	}
	return names, nil
}

func (r *Runtime) ctrBinary() string {
	if r.ctr != "" {
		return r.ctr
	}
	return "ctr"
}

// HasImage reports whether the runtime has the image ref.
func (r *Runtime) HasImage(ctx context.Context, ref string) (bool, error) {
	st, err := r.Images.ImageStatus(ctx, &runtimeapi.ImageSpec{Image: ref}, false)
	if err != nil {
		return false, fmt.Errorf("image status %s: %w", ref, err)
	}
	return st.GetImage() != nil, nil
}

// EnsureBuilt imports an image Shoal built (the pause or the empty image)
// unless the runtime already has it. Its name changes with its bytes, so
// a present name is the right image.
func (r *Runtime) EnsureBuilt(ctx context.Context, b *ociimage.Built) error {
	ok, err := r.HasImage(ctx, b.Ref)
	if err != nil || ok {
		return err
	}
	f, err := os.CreateTemp("", "shoal-image-*.tar")
	if err != nil {
		return fmt.Errorf("import %s: %w", b.Ref, err)
	}
	defer os.Remove(f.Name())
	werr := b.WriteOCILayout(f)
	if err := f.Close(); werr == nil {
		werr = err
	}
	if werr != nil {
		return fmt.Errorf("import %s: %w", b.Ref, werr)
	}
	if _, err := r.Import(ctx, f.Name()); err != nil {
		return fmt.Errorf("import %s: %w", b.Ref, err)
	}
	if ok, err := r.HasImage(ctx, b.Ref); err != nil || !ok {
		return fmt.Errorf("import %s: the runtime does not list it after import (%v)", b.Ref, err)
	}
	r.logger.Info("imported built-in image", "image", b.Ref)
	return nil
}
