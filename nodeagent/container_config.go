package nodeagent

import (
	"os"
	"strconv"

	corev1 "k8s.io/api/core/v1"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// hostPaths are what of the node an image-less container sees, read-only,
// over the built-in empty image: its programs and libraries and the files
// they read (users, TLS roots, the time zone, Debian's alternatives).
var hostPaths = []string{
	"/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32",
	"/etc/alternatives", "/etc/ssl", "/etc/ca-certificates", "/etc/passwd", "/etc/group",
	"/etc/nsswitch.conf", "/etc/localtime", "/etc/python3", "/etc/mime.types",
}

// defaultPath is the PATH an image-less container gets unless its env sets
// one (an image brings its own).
const defaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// containerConfig is the CRI config of instance attempt of container c, as
// the kubelet builds it: command and args with $(VAR) expanded (the
// runtime applies the image's entrypoint and cmd by Kubernetes' rules),
// env, mounts, resources, security context and the log path.
func (w *podWorker) containerConfig(pod *corev1.Pod, c *ctr, attempt uint32) (*runtimeapi.ContainerConfig, error) {
	spec := &c.spec
	ctx := w.envContext()
	objs := apiObjects{ctx: ctx, client: w.a.client, namespace: pod.Namespace}
	env, vars, err := containerEnv(pod, spec, w.sandbox.ip.String(), w.a.cfg.NodeIP.String(), objs, w.a.masterServiceEnv(ctx))
	if err != nil {
		return nil, err
	}
	mounts, err := w.volumes.mounts(pod, spec, vars)
	if err != nil {
		return nil, err
	}
	labels := w.a.podLabels(pod)
	labels[labelContainerName] = spec.Name
	cfg := &runtimeapi.ContainerConfig{
		Metadata:   &runtimeapi.ContainerMetadata{Name: spec.Name, Attempt: attempt},
		Image:      &runtimeapi.ImageSpec{Image: c.image.ref, UserSpecifiedImage: spec.Image},
		Command:    expandAll(spec.Command, vars),
		Args:       expandAll(spec.Args, vars),
		WorkingDir: spec.WorkingDir,
		Mounts:     mounts,
		Labels:     labels,
		Annotations: map[string]string{
			annotationRestartCount: strconv.Itoa(int(attempt)),
			annotationInit:         strconv.FormatBool(c.init),
		},
		LogPath:   spec.Name + "/" + strconv.Itoa(int(attempt)) + ".log",
		Stdin:     spec.Stdin,
		StdinOnce: spec.StdinOnce,
		Tty:       spec.TTY,
		Linux: &runtimeapi.LinuxContainerConfig{
			Resources:       containerResources(spec),
			SecurityContext: containerSecurity(pod, spec),
		},
	}
	for _, e := range env {
		cfg.Envs = append(cfg.Envs, &runtimeapi.KeyValue{Key: e.name, Value: []byte(e.value)})
	}
	if c.image.hostless {
		if len(spec.Command) == 0 {
			return nil, configErrorf("container %q has neither an image nor a command", spec.Name)
		}
		hostless(cfg, env)
	}
	if err := runAsNonRoot(pod, spec, cfg.Linux.SecurityContext, c.image.info); err != nil {
		return nil, err
	}
	return cfg, nil
}

// hostless makes an image-less container's config: the node's directories
// mounted read-only over the empty image, and a PATH.
func hostless(cfg *runtimeapi.ContainerConfig, env []envVar) {
	for _, p := range hostPaths {
		if _, err := os.Stat(p); err != nil {
			continue
		}
		cfg.Mounts = append(cfg.Mounts, &runtimeapi.Mount{ContainerPath: p, HostPath: p, Readonly: true})
	}
	for _, e := range env {
		if e.name == "PATH" {
			return
		}
	}
	cfg.Envs = append(cfg.Envs, &runtimeapi.KeyValue{Key: "PATH", Value: []byte(defaultPath)})
}
