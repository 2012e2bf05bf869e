package nodeagent

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/netip"
	"os"
	"path/filepath"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/shoalmesh/shoal/nodeagent/containerd"
)

// sandbox is a pod's CRI sandbox: its network namespace (wired by the CNI
// plugins), hostname, resolv.conf and cgroup parent, kept by the pause
// process.
type sandbox struct {
	id string
	// ip is the pod's IP: from the runtime (its eth0), the node's for a
	// hostNetwork pod.
	ip netip.Addr
	// pid is the pause process's, whose network namespace is the pod's (0
	// if unknown): load reports count its connections there.
	pid int
}

// Paths of what the agent keeps of a pod.
func (a *Agent) podDir(uid types.UID) string {
	return filepath.Join(a.cfg.DataDir, "pods", string(uid))
}
func (a *Agent) logsDir() string { return filepath.Join(a.cfg.DataDir, "logs") }

// podLogDir is the kubelet's <namespace>_<name>_<uid>, where the runtime
// writes each container's <name>/<restart count>.log.
func (a *Agent) podLogDir(namespace, name string, uid types.UID) string {
	return filepath.Join(a.logsDir(), namespace+"_"+name+"_"+string(uid))
}

// cgroupParent is the pod's cgroup (cgroupfs), under the agent's root, so
// that agents sharing a machine never share one.
func (a *Agent) cgroupParent(uid types.UID) string {
	return "/" + a.cfg.CgroupRoot + "/pod" + string(uid)
}

// maxHostname is what sethostname(2) takes; Kubernetes cuts pod names to it.
const maxHostname = 63

// podHostname is the pod's host name: spec.hostname, else its name cut to
// 63 characters.
func podHostname(pod *corev1.Pod) string {
	if pod.Spec.Hostname != "" {
		return pod.Spec.Hostname
	}
	h := pod.Name
	if len(h) > maxHostname {
		h = strings.TrimRight(h[:maxHostname], "-.")
	}
	return h
}

// sandboxConfig is the pod's PodSandboxConfig, as the kubelet builds it.
// It depends on the pod's spec only (and the attempt), so it is built
// again for an adopted sandbox.
func (a *Agent) sandboxConfig(pod *corev1.Pod) (*runtimeapi.PodSandboxConfig, error) {
	dns, err := a.podDNS(pod)
	if err != nil {
		return nil, err
	}
	labels := maps.Clone(pod.Labels)
	if labels == nil {
		labels = map[string]string{}
	}
	maps.Copy(labels, a.podLabels(pod))
	cfg := &runtimeapi.PodSandboxConfig{
		Metadata:     &runtimeapi.PodSandboxMetadata{Name: pod.Name, Namespace: pod.Namespace, Uid: string(pod.UID)},
		Hostname:     podHostname(pod),
		LogDirectory: a.podLogDir(pod.Namespace, pod.Name, pod.UID),
		DnsConfig:    dns,
		Labels:       labels,
		Annotations:  maps.Clone(pod.Annotations),
		Linux: &runtimeapi.LinuxPodSandboxConfig{
			CgroupParent:    a.cgroupParent(pod.UID),
			SecurityContext: sandboxSecurity(pod),
		},
	}
	if pod.Spec.HostNetwork {
		cfg.Hostname = "" // the node's: a host-network sandbox must not set one
	}
	if sc := pod.Spec.SecurityContext; sc != nil && len(sc.Sysctls) > 0 {
		cfg.Linux.Sysctls = map[string]string{}
		for _, s := range sc.Sysctls {
			cfg.Linux.Sysctls[s.Name] = s.Value
		}
	}
	for _, c := range pod.Spec.Containers {
		for _, p := range c.Ports {
			if p.HostPort == 0 {
				continue
			}
			cfg.PortMappings = append(cfg.PortMappings, &runtimeapi.PortMapping{
				Protocol: protocol(p.Protocol), ContainerPort: p.ContainerPort, HostPort: p.HostPort, HostIp: p.HostIP,
			})
		}
	}
	return cfg, nil
}

// podLabels are the labels the agent finds a pod's sandbox and containers
// by: the kubelet's and its node's.
func (a *Agent) podLabels(pod *corev1.Pod) map[string]string {
	return map[string]string{
		labelPodName:      pod.Name,
		labelPodNamespace: pod.Namespace,
		labelPodUID:       string(pod.UID),
		labelNode:         a.cfg.NodeName,
	}
}

func protocol(p corev1.Protocol) runtimeapi.Protocol {
	switch p {
	case corev1.ProtocolUDP:
		return runtimeapi.Protocol_UDP
	case corev1.ProtocolSCTP:
		return runtimeapi.Protocol_SCTP
	}
	return runtimeapi.Protocol_TCP
}

// runSandbox creates and starts the pod's sandbox and reads its IP.
func (w *podWorker) runSandbox(ctx context.Context, pod *corev1.Pod) (*sandbox, error) {
	a := w.a
	cfg, err := a.sandboxConfig(pod)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(cfg.LogDirectory, 0o755); err != nil {
		return nil, fmt.Errorf("pod log dir: %w", err)
	}
	id, err := a.cri.RunPodSandbox(ctx, cfg, "")
	if err != nil {
		return nil, err
	}
	sb, err := a.sandboxStatus(ctx, id, pod.Spec.HostNetwork)
	if err != nil {
		a.removeSandbox(ctx, id)
		return nil, err
	}
	return sb, nil
}

// sandboxStatus reads a ready sandbox's IP and pause PID.
func (a *Agent) sandboxStatus(ctx context.Context, id string, hostNetwork bool) (*sandbox, error) {
	st, err := a.cri.PodSandboxStatus(ctx, id, true)
	if err != nil {
		return nil, fmt.Errorf("sandbox status: %w", err)
	}
	if s := st.GetStatus().GetState(); s != runtimeapi.PodSandboxState_SANDBOX_READY {
		return nil, fmt.Errorf("sandbox %s is %s", id, s)
	}
	sb := &sandbox{id: id, ip: a.cfg.NodeIP}
	if !hostNetwork {
		ip, err := netip.ParseAddr(st.GetStatus().GetNetwork().GetIp())
		if err != nil {
			return nil, fmt.Errorf("sandbox %s has no pod IP (%q)", id, st.GetStatus().GetNetwork().GetIp())
		}
		sb.ip = ip
	}
	var info struct {
		Pid int `json:"pid"`
	}
	if json.Unmarshal([]byte(st.GetInfo()["info"]), &info) == nil {
		sb.pid = info.Pid
	}
	return sb, nil
}

// removeSandbox stops (the CNI plugins free its network) and removes a
// sandbox with its containers, then the pod's cgroups, which runc leaves.
func (a *Agent) removeSandbox(ctx context.Context, id string) error {
	if err := a.cri.StopPodSandbox(ctx, id); err != nil {
		return fmt.Errorf("stop sandbox: %w", err)
	}
	if err := a.cri.RemovePodSandbox(ctx, id); err != nil {
		return fmt.Errorf("remove sandbox: %w", err)
	}
	return nil
}

// removePodCgroups removes the pod's cgroup parent (empty once its
// sandbox is gone).
func (a *Agent) removePodCgroups(uid types.UID) error {
	return containerd.RemoveCgroupTree(a.cgroupParent(uid))
}
