// Package ociimage builds the small images Shoal never pulls: the sandbox
// (pause) image every pod runs, whose program is a few hundred bytes of
// machine code generated here as a static ELF (amd64, arm64), and an empty
// image for pods that run a command from the node's filesystem. Images are
// one uncompressed layer, built reproducibly, named with a tag derived
// from their digest (so a changed image never hides behind a stale name),
// and written as an OCI layout tar that containerd imports:
//
//	img, err := ociimage.Pause("") // this machine's architecture
//	if err != nil { … }
//	f, _ := os.Create("pause.tar")
//	err = img.WriteOCILayout(f) // then: ctr -n k8s.io images import pause.tar
//	// containerd's sandbox_image = img.Ref
package ociimage
