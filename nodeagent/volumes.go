package nodeagent

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"

	corev1 "k8s.io/api/core/v1"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/shoalmesh/shoal/nodeagent/volume"
)

// podVolumes are a pod's volumes on the node, under
// <DataDir>/pods/<uid>/volumes/<kind>/<name> as the kubelet lays them out,
// and its /etc/hosts.
type podVolumes struct {
	dir   string            // <DataDir>/pods/<uid>
	paths map[string]string // volume name → node path
	ro    map[string]bool   // volumes mounted read-only whatever the mount says
	tmpfs []string          // memory emptyDirs (unmounted when the pod goes)
}

// Kinds of volumes, as directory names (the kubelet's plugin names).
const (
	kindEmptyDir    = "kubernetes.io~empty-dir"
	kindConfigMap   = "kubernetes.io~configmap"
	kindSecret      = "kubernetes.io~secret"
	kindProjected   = "kubernetes.io~projected"
	kindDownwardAPI = "kubernetes.io~downward-api"
)

// setupVolumes makes the pod's volumes: emptyDir directories (a tmpfs for
// medium Memory), checked hostPaths, and the directories of configMap,
// secret, downwardAPI and projected volumes. Volumes of other kinds
// (persistentVolumeClaim, nfs, …) fail the pod's set-up with a clear
// error. Calling it again for the same pod is harmless.
func (a *Agent) setupVolumes(pod *corev1.Pod) (*podVolumes, error) {
	v := &podVolumes{dir: a.podDir(pod.UID), paths: map[string]string{}, ro: map[string]bool{}}
	if err := os.MkdirAll(v.dir, 0o750); err != nil {
		return nil, fmt.Errorf("pod dir: %w", err)
	}
	var fsGroup *int64
	if sc := pod.Spec.SecurityContext; sc != nil {
		fsGroup = sc.FSGroup
	}
	for _, vol := range pod.Spec.Volumes {
		dir := func(kind string) string { return filepath.Join(v.dir, "volumes", kind, vol.Name) }
		switch src := vol.VolumeSource; {
		case src.EmptyDir != nil:
			p := dir(kindEmptyDir)
			memory := src.EmptyDir.Medium == corev1.StorageMediumMemory
			var size int64
			if src.EmptyDir.SizeLimit != nil {
				size = src.EmptyDir.SizeLimit.Value()
			}
			if err := volume.EmptyDir(p, memory, size); err != nil {
				return nil, fmt.Errorf("volume %q: %w", vol.Name, err)
			}
			if memory {
				v.tmpfs = append(v.tmpfs, p)
			}
			if fsGroup != nil {
				if err := volume.SetGroup(p, *fsGroup); err != nil {
					return nil, fmt.Errorf("volume %q: %w", vol.Name, err)
				}
			}
			v.paths[vol.Name] = p
		case src.HostPath != nil:
			if err := volume.HostPath(src.HostPath.Path, src.HostPath.Type); err != nil {
				return nil, fmt.Errorf("volume %q: %w", vol.Name, err)
			}
			v.paths[vol.Name] = src.HostPath.Path
		case src.ConfigMap != nil, src.Secret != nil, src.DownwardAPI != nil, src.Projected != nil:
			kind := map[bool]string{src.ConfigMap != nil: kindConfigMap, src.Secret != nil: kindSecret,
				src.DownwardAPI != nil: kindDownwardAPI, src.Projected != nil: kindProjected}[true]
			p := dir(kind)
			if err := os.MkdirAll(p, 0o755); err != nil {
				return nil, fmt.Errorf("volume %q: %w", vol.Name, err)
			}
			v.paths[vol.Name], v.ro[vol.Name] = p, true
		default:
			return nil, fmt.Errorf("volume %q: %s volumes are not supported by Shoal (emptyDir, hostPath, configMap, secret, downwardAPI and projected are)", vol.Name, volumeKind(&vol.VolumeSource))
		}
	}
	return v, nil
}

// volumeKind names the kind of a volume source for messages.
func volumeKind(src *corev1.VolumeSource) string {
	switch {
	case src.PersistentVolumeClaim != nil:
		return "persistentVolumeClaim"
	case src.NFS != nil:
		return "nfs"
	case src.Ephemeral != nil:
		return "ephemeral"
	case src.CSI != nil:
		return "csi"
	case src.Image != nil:
		return "image"
	}
	return "such"
}

// hostsPath is the pod's /etc/hosts, the kubelet's managed one.
func (v *podVolumes) hostsPath() string { return filepath.Join(v.dir, "etc-hosts") }

// writeHosts writes the pod's /etc/hosts: localhost, its IP with its
// name (and FQDN with a subdomain), and its hostAliases.
func (v *podVolumes) writeHosts(pod *corev1.Pod, ip netip.Addr, domain string) error {
	if pod.Spec.HostNetwork {
		return nil // the node's own /etc/hosts
	}
	var b strings.Builder
	b.WriteString("# Kubernetes-managed hosts file.\n127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n" +
		"fe00::0\tip6-localnet\nfe00::0\tip6-mcastprefix\nfe00::1\tip6-allnodes\nfe00::2\tip6-allrouters\n")
	host := podHostname(pod)
	if pod.Spec.Subdomain != "" {
		fmt.Fprintf(&b, "%s\t%s.%s.%s.svc.%s\t%s\n", ip, host, pod.Spec.Subdomain, pod.Namespace, domain, host)
	} else {
		fmt.Fprintf(&b, "%s\t%s\n", ip, host)
	}
	if len(pod.Spec.HostAliases) > 0 {
		b.WriteString("\n# Entries added by HostAliases.\n")
		for _, ha := range pod.Spec.HostAliases {
			fmt.Fprintf(&b, "%s\t%s\n", ha.IP, strings.Join(ha.Hostnames, "\t"))
		}
	}
	if err := os.WriteFile(v.hostsPath(), []byte(b.String()), 0o644); err != nil {
		return fmt.Errorf("write the pod's hosts file: %w", err)
	}
	return nil
}

// mounts are container c's mounts: its volumeMounts (subPath and
// subPathExpr resolved inside the volume) and the pod's /etc/hosts.
func (v *podVolumes) mounts(pod *corev1.Pod, c *corev1.Container, vars map[string]string) ([]*runtimeapi.Mount, error) {
	var out []*runtimeapi.Mount
	hosts := !pod.Spec.HostNetwork
	for i, vm := range c.VolumeMounts {
		src, ok := v.paths[vm.Name]
		if !ok {
			return nil, configErrorf("container %q: volumeMounts[%d]: no volume named %q", c.Name, i, vm.Name)
		}
		sub := vm.SubPath
		if vm.SubPathExpr != "" {
			sub = expand(vm.SubPathExpr, vars)
		}
		if sub != "" {
			if filepath.IsAbs(sub) || strings.HasPrefix(filepath.Clean(sub), "..") {
				return nil, configErrorf("container %q: volumeMounts[%d]: subPath %q must be a relative path inside the volume", c.Name, i, sub)
			}
			src = filepath.Join(src, sub)
			if _, err := os.Lstat(src); os.IsNotExist(err) {
				if err := os.MkdirAll(src, 0o755); err != nil {
					return nil, fmt.Errorf("container %q: subPath %q: %w", c.Name, sub, err)
				}
			}
		}
		if vm.MountPath == "/etc/hosts" {
			hosts = false
		}
		out = append(out, &runtimeapi.Mount{
			ContainerPath: vm.MountPath, HostPath: src,
			Readonly: vm.ReadOnly || v.ro[vm.Name], Propagation: propagation(vm.MountPropagation),
		})
	}
	if hosts {
		out = append(out, &runtimeapi.Mount{ContainerPath: "/etc/hosts", HostPath: v.hostsPath()})
	}
	return out, nil
}

func propagation(p *corev1.MountPropagationMode) runtimeapi.MountPropagation {
	if p == nil {
		return runtimeapi.MountPropagation_PROPAGATION_PRIVATE
	}
	switch *p {
	case corev1.MountPropagationHostToContainer:
		return runtimeapi.MountPropagation_PROPAGATION_HOST_TO_CONTAINER
	case corev1.MountPropagationBidirectional:
		return runtimeapi.MountPropagation_PROPAGATION_BIDIRECTIONAL
	}
	return runtimeapi.MountPropagation_PROPAGATION_PRIVATE
}

// unmount unmounts the pod's tmpfs volumes.
func (v *podVolumes) unmount() error {
	for _, p := range v.tmpfs {
		if err := volume.Unmount(p); err != nil {
			return err
		}
	}
	return nil
}

// removePodDir unmounts what is mounted below the pod's directory and
// removes it: its volumes and hosts file.
func (a *Agent) removePodDir(uid string) error {
	dir := filepath.Join(a.cfg.DataDir, "pods", uid)
	empty := filepath.Join(dir, "volumes", kindEmptyDir)
	entries, _ := os.ReadDir(empty)
	for _, e := range entries {
		if err := volume.Unmount(filepath.Join(empty, e.Name())); err != nil {
			return err
		}
	}
	return os.RemoveAll(dir)
}
