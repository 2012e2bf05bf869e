// Package containerd runs the container runtime the node agent drives over
// CRI: Debian's containerd (1.6) as a child process with a configuration of
// our own, the way k3s runs it, or an existing runtime given by its
// endpoint (the kubelet's --container-runtime-endpoint).
//
// Start writes a version-2 config.toml under Config.Dir (root, state and
// socket of its own; the CRI plugin with restrict_oom_score_adj, cgroupfs,
// the built-in pause image as sandbox_image, the CNI directories, a
// hosts.toml directory rendered from Registries, a stream server on
// 127.0.0.1 with a kernel-chosen port), starts containerd, and returns when
// the CRI Version call answers. The socket and state live under a short
// path (/run/shoal/<hash>) because unix socket paths are limited to 108
// bytes. Close stops containerd (SIGTERM, then SIGKILL after a grace
// period); containers keep running under their shims, so a restarted
// agent can adopt them.
//
//	pause, err := ociimage.Pause("")
//	rt, err := containerd.Start(ctx, containerd.Config{
//		Dir:          filepath.Join(dataDir, "containerd"),
//		SandboxImage: pause.Ref,
//		CNIBinDir:    "/usr/lib/cni",
//		CNIConfDir:   filepath.Join(dataDir, "cni"),
//		Registries:   registries, // from ParseRegistries(registries.yaml)
//		Logger:       logger,
//	})
//	defer rt.Close()
//	err = rt.EnsureBuilt(ctx, pause)                              // never pulled
//	err = rt.ImportDir(ctx, filepath.Join(dataDir, "images"))     // air-gap archives
//	id, err := rt.Runtime.RunPodSandbox(containerd.WithLogger(ctx, logger), cfg, "")
//
// cri-client logs through klog's contextual logger: pass contexts made
// with WithLogger. CRI calls containerd 1.6 does not implement answer
// Unimplemented; Unsupported tells those apart from failures. runc leaves a
// pod's parent cgroup behind when the pod is gone: RemoveCgroupTree removes
// it.
package containerd
