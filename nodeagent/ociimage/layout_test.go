package ociimage

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"io"
	"io/fs"
	"strings"
	"testing"
)

// readTar returns a tar's regular files and the names of all entries.
func readTar(t *testing.T, b []byte) (map[string][]byte, map[string]*tar.Header) {
	t.Helper()
	files, headers := map[string][]byte{}, map[string]*tar.Header{}
	tr := tar.NewReader(bytes.NewReader(b))
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return files, headers
		}
		if err != nil {
			t.Fatal(err)
		}
		headers[h.Name] = h
		data, _ := io.ReadAll(tr)
		files[h.Name] = data
	}
}

func blob(t *testing.T, files map[string][]byte, digest string) []byte {
	t.Helper()
	b, ok := files["blobs/sha256/"+strings.TrimPrefix(digest, "sha256:")]
	if !ok {
		t.Fatalf("blob %s missing from the layout", digest)
	}
	if digestOf(b) != digest {
		t.Fatalf("blob %s has digest %s", digest, digestOf(b))
	}
	return b
}

func TestPauseImageLayout(t *testing.T) {
	built, err := Pause("amd64")
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := built.WriteOCILayout(&buf); err != nil {
		t.Fatal(err)
	}
	files, _ := readTar(t, buf.Bytes())
	if string(files["oci-layout"]) != `{"imageLayoutVersion":"1.0.0"}` {
		t.Errorf("oci-layout = %q", files["oci-layout"])
	}
	var idx index
	if err := json.Unmarshal(files["index.json"], &idx); err != nil {
		t.Fatal(err)
	}
	if len(idx.Manifests) != 1 || idx.Manifests[0].Digest != built.Digest ||
		idx.Manifests[0].Annotations[annotationImageName] != built.Ref {
		t.Fatalf("index.json = %s, want one manifest %s named %s", files["index.json"], built.Digest, built.Ref)
	}
	if !strings.HasPrefix(built.Ref, PauseRepository+":sha256-") {
		t.Errorf("Ref = %q, want %s:sha256-<digest prefix>", built.Ref, PauseRepository)
	}
	var m manifest
	json.Unmarshal(blob(t, files, built.Digest), &m)
	var cfg imageConfig
	json.Unmarshal(blob(t, files, m.Config.Digest), &cfg)
	if cfg.Architecture != "amd64" || cfg.OS != "linux" || cfg.Config.User != "65535:65535" ||
		len(cfg.Config.Entrypoint) != 1 || cfg.Config.Entrypoint[0] != "/pause" {
		t.Errorf("config = %+v", cfg)
	}
	if len(m.Layers) != 1 || len(cfg.RootFS.DiffIDs) != 1 || cfg.RootFS.DiffIDs[0] != m.Layers[0].Digest {
		t.Fatalf("manifest layers %+v, diff_ids %v: want one uncompressed layer", m.Layers, cfg.RootFS.DiffIDs)
	}
	layer, headers := readTar(t, blob(t, files, m.Layers[0].Digest))
	elf, _ := PauseELF("amd64")
	if !bytes.Equal(layer["pause"], elf) || headers["pause"].Mode != 0o755 {
		t.Errorf("layer's /pause: mode %o, %d bytes; want the pause program, mode 755", headers["pause"].Mode, len(layer["pause"]))
	}

	again, _ := Pause("amd64")
	if again.Ref != built.Ref {
		t.Errorf("two builds differ: %s, %s", built.Ref, again.Ref)
	}
	other, _ := Pause("arm64")
	if other.Ref == built.Ref {
		t.Errorf("amd64 and arm64 images share the name %s", built.Ref)
	}
}

func TestEmptyImageLayer(t *testing.T) {
	built, err := Empty("amd64")
	if err != nil {
		t.Fatal(err)
	}
	_, headers := readTar(t, built.layer)
	if h := headers["tmp/"]; h == nil || h.Mode != 0o1777 {
		t.Errorf("tmp/ = %+v, want a directory with mode 1777", h)
	}
	for _, d := range []string{"usr/", "bin/", "lib/", "etc/", "proc/"} {
		if h := headers[d]; h == nil || h.Typeflag != tar.TypeDir {
			t.Errorf("%s missing from the empty image", d)
		}
	}
}

func TestBuildRejectsBadInput(t *testing.T) {
	for name, img := range map[string]Image{
		"tagged repository": {Repository: "x/pause:1", Arch: "amd64"},
		"absolute path":     {Repository: "x/a", Arch: "amd64", Files: []File{{Path: "/etc/passwd"}}},
		"escaping path":     {Repository: "x/a", Arch: "amd64", Files: []File{{Path: "../x"}}},
		"duplicate":         {Repository: "x/a", Arch: "amd64", Files: []File{{Path: "a"}, {Path: "./a"}}},
		"no arch":           {Repository: "x/a"},
	} {
		if _, err := img.Build(); err == nil {
			t.Errorf("%s: Build succeeded", name)
		}
	}
	ok := Image{Repository: "x/a", Arch: "amd64", Files: []File{
		{Path: "bin", Mode: fs.ModeDir | 0o755}, {Path: "bin/sh", Mode: fs.ModeSymlink, Target: "busybox"},
	}}
	b, err := ok.Build()
	if err != nil {
		t.Fatal(err)
	}
	if _, h := readTar(t, b.layer); h["bin/sh"].Linkname != "busybox" {
		t.Errorf("symlink not kept: %+v", h["bin/sh"])
	}
}
