package ociimage

import (
	"fmt"
	"io/fs"
	"runtime"
)

// Repositories of the images Shoal builds itself. The .invalid domain
// never resolves, so a missing image fails at once instead of being pulled
// from somewhere.
const (
	PauseRepository = "shoal.invalid/pause"
	EmptyRepository = "shoal.invalid/empty"
)

// PauseUser is the pause process's user and group, as in the kubelet's
// pause image.
const PauseUser = "65535:65535"

// Pause returns the sandbox image for goarch ("" for this machine's): the
// pause program at /pause, run as 65535:65535.
func Pause(goarch string) (*Built, error) {
	if goarch == "" {
		goarch = runtime.GOARCH
	}
	elf, err := PauseELF(goarch)
	if err != nil {
		return nil, fmt.Errorf("pause image: %w", err)
	}
	return Image{
		Repository: PauseRepository,
		Arch:       goarch,
		Files:      []File{{Path: "pause", Mode: 0o755, Data: elf}},
		Entrypoint: []string{"/pause"},
		User:       PauseUser,
	}.Build()
}

// emptyDirs are the mount points an image-less pod's container needs:
// the host's system directories are bind-mounted over the first ones, the
// runtime mounts the others.
var emptyDirs = []string{"bin", "etc", "lib", "lib64", "sbin", "usr", "dev", "proc", "sys", "run", "var"}

// Empty returns an image with no files but the mount points above and a
// world-writable /tmp, for pods that run a command from the node's own
// filesystem: the runtime bind-mounts the host's directories into it.
func Empty(goarch string) (*Built, error) {
	if goarch == "" {
		goarch = runtime.GOARCH
	}
	files := []File{{Path: "tmp", Mode: fs.ModeDir | fs.ModeSticky | 0o777}}
	for _, d := range emptyDirs {
		files = append(files, File{Path: d, Mode: fs.ModeDir | 0o755})
	}
	return Image{Repository: EmptyRepository, Arch: goarch, Files: files}.Build()
}
