package containerd

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/shoalmesh/shoal/internal/atomicfile"
)

// importRecordName is the file in an images directory that remembers
// which archives were imported, so a restart does not import them again.
const importRecordName = ".shoal-imported.json"

// importedArchive is what the record keeps of one archive.
type importedArchive struct {
	Size    int64    `json:"size"`
	ModTime int64    `json:"mtimeNanos"`
	Images  []string `json:"images"`
}

// ImportDir imports every image archive (*.tar: OCI layout or docker
// save) in dir into the runtime, as k3s imports its air-gap images. An
// archive whose size and modification time are unchanged since it was last
// imported, and whose images the runtime still has, is skipped. A bad
// archive does not stop the others: the error names each one that failed.
// A missing dir is not an error.
func (r *Runtime) ImportDir(ctx context.Context, dir string) error {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("import images from %s: %w", dir, err)
	}
	record := r.readImportRecord(dir)
	next := map[string]importedArchive{}
	var errs []error
	for _, e := range entries {
		name := e.Name()
		if strings.HasPrefix(name, ".") || !strings.HasSuffix(name, ".tar") {
			continue
		}
		path := filepath.Join(dir, name)
		st, err := os.Stat(path)
		if err != nil {
			errs = append(errs, fmt.Errorf("import image archive %s: %w", path, err))
			continue
		}
		if !st.Mode().IsRegular() {
			continue
		}
		cur := importedArchive{Size: st.Size(), ModTime: st.ModTime().UnixNano()}
		if prev, ok := record[name]; ok && prev.Size == cur.Size && prev.ModTime == cur.ModTime && r.haveAll(ctx, prev.Images) {
			next[name] = prev
			continue
		}
		images, err := r.Import(ctx, path)
		if err != nil {
			errs = append(errs, fmt.Errorf("import image archive %s: %w", path, err))
			continue
		}
		if len(images) == 0 {
			errs = append(errs, fmt.Errorf("import image archive %s: it holds no image with a name", path))
			continue
		}
		cur.Images = images
		next[name] = cur
		r.logger.Info("imported image archive", "file", path, "images", images)
	}
	if err := writeImportRecord(dir, next); err != nil {
		r.logger.Warn("cannot remember imported image archives; they are imported again at the next start", "dir", dir, "err", err)
	}
	return errors.Join(errs...)
}

// haveAll reports whether the runtime has every image (and there is one).
func (r *Runtime) haveAll(ctx context.Context, images []string) bool {
	for _, img := range images {
		if ok, err := r.HasImage(ctx, img); err != nil || !ok {
			return false
		}
	}
	return len(images) > 0
}

func (r *Runtime) readImportRecord(dir string) map[string]importedArchive {
	rec := map[string]importedArchive{}
	b, err := os.ReadFile(filepath.Join(dir, importRecordName))
	if err != nil {
		return rec
	}
	if err := json.Unmarshal(b, &rec); err != nil {
		r.logger.Warn("ignoring unreadable import record", "file", filepath.Join(dir, importRecordName), "err", err)
		return map[string]importedArchive{}
	}
	return rec
}

func writeImportRecord(dir string, rec map[string]importedArchive) error {
	b, err := json.MarshalIndent(rec, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.Write(filepath.Join(dir, importRecordName), b, 0o644)
}
