package ociimage

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"path"
	"sort"
	"strings"
	"time"
)

// Media types and annotations of the OCI image spec and containerd.
const (
	mediaTypeManifest = "application/vnd.oci.image.manifest.v1+json"
	mediaTypeConfig   = "application/vnd.oci.image.config.v1+json"
	mediaTypeLayer    = "application/vnd.oci.image.layer.v1.tar"

	// annotationRefName is the OCI tag annotation of an index entry.
	annotationRefName = "org.opencontainers.image.ref.name"
	// annotationImageName is the full image name containerd's importer
	// gives an index entry (ctr images import uses it as the image name).
	annotationImageName = "io.containerd.image.name"
)

// File is one entry of an image's single layer. Parent directories are
// not implied: list them when their mode matters.
type File struct {
	Path   string      // relative to the root, e.g. "pause" or "bin/sh"
	Mode   fs.FileMode // permission bits plus fs.ModeDir or fs.ModeSymlink
	Data   []byte      // a regular file's contents
	Target string      // a symlink's target
	UID    int
	GID    int
}

// Image describes a one-layer image to build.
type Image struct {
	Repository string // e.g. "shoal.invalid/pause"; the tag is derived from the content
	Arch       string // GOARCH: amd64, arm64
	Files      []File
	Entrypoint []string
	Cmd        []string
	Env        []string
	User       string
	WorkingDir string
}

// Built is an image serialised into its blobs, ready to be written as an
// OCI layout.
type Built struct {
	// Ref is Repository + ":" + a tag derived from the manifest digest, so
	// a change in the image's bytes always changes its name.
	Ref string
	// Digest is the manifest digest ("sha256:…").
	Digest string

	manifest, config, layer []byte
}

type descriptor struct {
	MediaType   string            `json:"mediaType"`
	Digest      string            `json:"digest"`
	Size        int               `json:"size"`
	Annotations map[string]string `json:"annotations,omitempty"`
}

type imageConfig struct {
	Architecture string `json:"architecture"`
	OS           string `json:"os"`
	Config       struct {
		User       string   `json:"User,omitempty"`
		Env        []string `json:"Env,omitempty"`
		Entrypoint []string `json:"Entrypoint,omitempty"`
		Cmd        []string `json:"Cmd,omitempty"`
		WorkingDir string   `json:"WorkingDir,omitempty"`
	} `json:"config"`
	RootFS struct {
		Type    string   `json:"type"`
		DiffIDs []string `json:"diff_ids"`
	} `json:"rootfs"`
}

type manifest struct {
	SchemaVersion int          `json:"schemaVersion"`
	MediaType     string       `json:"mediaType"`
	Config        descriptor   `json:"config"`
	Layers        []descriptor `json:"layers"`
}

type index struct {
	SchemaVersion int          `json:"schemaVersion"`
	MediaType     string       `json:"mediaType,omitempty"`
	Manifests     []descriptor `json:"manifests"`
}

func digestOf(b []byte) string {
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// Build serialises the image. The result depends only on img: layer
// entries carry a zero timestamp and are sorted by path.
func (img Image) Build() (*Built, error) {
	if img.Repository == "" || strings.Contains(path.Base(img.Repository), ":") || strings.Contains(img.Repository, "@") {
		return nil, fmt.Errorf("build image: repository %q is not a name without tag", img.Repository)
	}
	if img.Arch == "" {
		return nil, fmt.Errorf("build image %s: no architecture", img.Repository)
	}
	layer, err := LayerTar(img.Files)
	if err != nil {
		return nil, fmt.Errorf("build image %s: %w", img.Repository, err)
	}
	var cfg imageConfig
	cfg.Architecture, cfg.OS = img.Arch, "linux"
	cfg.Config.User, cfg.Config.Env = img.User, img.Env
	cfg.Config.Entrypoint, cfg.Config.Cmd, cfg.Config.WorkingDir = img.Entrypoint, img.Cmd, img.WorkingDir
	cfg.RootFS.Type, cfg.RootFS.DiffIDs = "layers", []string{digestOf(layer)}
	config, err := json.Marshal(cfg)
	if err != nil {
		return nil, fmt.Errorf("build image %s: config: %w", img.Repository, err)
	}
	m, err := json.Marshal(manifest{
		SchemaVersion: 2,
		MediaType:     mediaTypeManifest,
		Config:        descriptor{MediaType: mediaTypeConfig, Digest: digestOf(config), Size: len(config)},
		Layers:        []descriptor{{MediaType: mediaTypeLayer, Digest: digestOf(layer), Size: len(layer)}},
	})
	if err != nil {
		return nil, fmt.Errorf("build image %s: manifest: %w", img.Repository, err)
	}
	d := digestOf(m)
	return &Built{
		Ref:      img.Repository + ":" + "sha256-" + strings.TrimPrefix(d, "sha256:")[:16],
		Digest:   d,
		manifest: m, config: config, layer: layer,
	}, nil
}

// LayerTar returns files as an uncompressed layer tar, sorted by path,
// with zero timestamps: the same files always give the same bytes.
func LayerTar(files []File) ([]byte, error) {
	sorted := append([]File(nil), files...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].Path < sorted[j].Path })
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	seen := map[string]bool{}
	for _, f := range sorted {
		name := path.Clean(f.Path)
		if path.IsAbs(name) || name == "." || strings.HasPrefix(name, "../") || name == ".." {
			return nil, fmt.Errorf("layer file %q: path must be relative and inside the root", f.Path)
		}
		if seen[name] {
			return nil, fmt.Errorf("layer file %q: listed twice", f.Path)
		}
		seen[name] = true
		h := &tar.Header{
			Name: name, Mode: int64(f.Mode.Perm()), Uid: f.UID, Gid: f.GID,
			ModTime: time.Unix(0, 0).UTC(), Format: tar.FormatPAX,
		}
		switch {
		case f.Mode&fs.ModeDir != 0:
			h.Typeflag, h.Name = tar.TypeDir, name+"/"
			if f.Mode&fs.ModeSticky != 0 {
				h.Mode |= 0o1000
			}
		case f.Mode&fs.ModeSymlink != 0:
			h.Typeflag, h.Linkname = tar.TypeSymlink, f.Target
		default:
			h.Typeflag, h.Size = tar.TypeReg, int64(len(f.Data))
		}
		if err := tw.WriteHeader(h); err != nil {
			return nil, fmt.Errorf("layer file %q: %w", f.Path, err)
		}
		if h.Typeflag == tar.TypeReg {
			if _, err := tw.Write(f.Data); err != nil {
				return nil, fmt.Errorf("layer file %q: %w", f.Path, err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		return nil, fmt.Errorf("layer: %w", err)
	}
	return buf.Bytes(), nil
}

// WriteOCILayout writes the image as a tar of an OCI image layout
// (oci-layout, index.json, blobs/sha256/…), the format `ctr images import`
// and containerd's importer read. The index entry names the image with
// both the containerd and the OCI annotation.
func (b *Built) WriteOCILayout(w io.Writer) error {
	tag := b.Ref[strings.LastIndex(b.Ref, ":")+1:]
	idx, err := json.Marshal(index{
		SchemaVersion: 2,
		MediaType:     "application/vnd.oci.image.index.v1+json",
		Manifests: []descriptor{{
			MediaType: mediaTypeManifest, Digest: b.Digest, Size: len(b.manifest),
			Annotations: map[string]string{annotationImageName: b.Ref, annotationRefName: tag},
		}},
	})
	if err != nil {
		return fmt.Errorf("write oci layout %s: %w", b.Ref, err)
	}
	tw := tar.NewWriter(w)
	entries := []struct {
		name string
		data []byte
	}{
		{"oci-layout", []byte(`{"imageLayoutVersion":"1.0.0"}`)},
		{"index.json", idx},
		{"blobs/sha256/" + strings.TrimPrefix(digestOf(b.layer), "sha256:"), b.layer},
		{"blobs/sha256/" + strings.TrimPrefix(digestOf(b.config), "sha256:"), b.config},
		{"blobs/sha256/" + strings.TrimPrefix(b.Digest, "sha256:"), b.manifest},
	}
	for _, dir := range []string{"blobs/", "blobs/sha256/"} {
		if err := tw.WriteHeader(&tar.Header{Name: dir, Typeflag: tar.TypeDir, Mode: 0o755, ModTime: time.Unix(0, 0)}); err != nil {
			return fmt.Errorf("write oci layout %s: %w", b.Ref, err)
		}
	}
	for _, e := range entries {
		h := &tar.Header{Name: e.name, Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(e.data)), ModTime: time.Unix(0, 0)}
		if err := tw.WriteHeader(h); err != nil {
			return fmt.Errorf("write oci layout %s: %w", b.Ref, err)
		}
		if _, err := tw.Write(e.data); err != nil {
			return fmt.Errorf("write oci layout %s: %w", b.Ref, err)
		}
	}
	if err := tw.Close(); err != nil {
		return fmt.Errorf("write oci layout %s: %w", b.Ref, err)
	}
	return nil
}
