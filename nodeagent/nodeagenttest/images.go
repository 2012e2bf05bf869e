package nodeagenttest

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// writeImages writes each image as a docker archive into dir, where the
// agent's ImportDir finds it at start.
func writeImages(dir string, images map[string]v1.Image) error {
	if len(images) == 0 {
		return nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	i := 0
	for ref, img := range images {
		tag, err := name.NewTag(ref)
		if err != nil {
			return fmt.Errorf("image %q: %w", ref, err)
		}
		i++
		if err := tarball.WriteToFile(filepath.Join(dir, "image-"+strconv.Itoa(i)+".tar"), tag, img); err != nil {
			return fmt.Errorf("image %q: %w", ref, err)
		}
	}
	return nil
}
