package nodeagent

import (
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

func writeTestFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// testWorker is a worker of pod with a sandbox at 10.244.1.5 and its
// volumes made, for building container configs.
func testWorker(t *testing.T, pod *corev1.Pod) *podWorker {
	t.Helper()
	a := &Agent{cfg: Config{NodeName: "n1", NodeIP: netip.MustParseAddr("192.0.2.9"), DataDir: t.TempDir(), CgroupRoot: "shoal/n1",
		ClusterDNS: netip.MustParseAddr("10.96.0.10"), ClusterDomain: "cluster.local"}, emptyImage: "shoal.invalid/empty:x"}
	vols, err := a.setupVolumes(pod)
	if err != nil {
		t.Fatal(err)
	}
	return &podWorker{a: a, uid: pod.UID, pod: pod, sandbox: &sandbox{id: "sb", ip: netip.MustParseAddr("10.244.1.5")}, volumes: vols}
}

func TestSandboxConfig(t *testing.T) {
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "web-0", UID: "u-1", Labels: map[string]string{"app": "web"}, Annotations: map[string]string{"a": "b"}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Ports: []corev1.ContainerPort{{ContainerPort: 80, HostPort: 8080}, {ContainerPort: 53, Protocol: corev1.ProtocolUDP}}}},
			SecurityContext: &corev1.PodSecurityContext{RunAsUser: new(int64(1000)), SupplementalGroups: []int64{5}, FSGroup: new(int64(7)),
				Sysctls: []corev1.Sysctl{{Name: "net.ipv4.ip_unprivileged_port_start", Value: "0"}}}},
	}
	w := testWorker(t, pod)
	cfg, err := w.a.sandboxConfig(pod)
	if err != nil {
		t.Fatal(err)
	}
	lin := cfg.Linux
	if cfg.Hostname != "web-0" || cfg.Metadata.Uid != "u-1" || cfg.Labels["app"] != "web" || cfg.Labels[labelPodUID] != "u-1" ||
		cfg.Labels[labelNode] != "n1" || cfg.Annotations["a"] != "b" || lin.CgroupParent != "/shoal/n1/podu-1" ||
		cfg.LogDirectory != filepath.Join(w.a.cfg.DataDir, "logs", "shop_web-0_u-1") ||
		len(cfg.PortMappings) != 1 || cfg.PortMappings[0].HostPort != 8080 ||
		lin.SecurityContext.RunAsUser.GetValue() != 1000 || !slices.Equal(lin.SecurityContext.SupplementalGroups, []int64{5, 7}) ||
		lin.SecurityContext.NamespaceOptions.Network != runtimeapi.NamespaceMode_POD || lin.Sysctls["net.ipv4.ip_unprivileged_port_start"] != "0" ||
		cfg.DnsConfig.Servers[0] != "10.96.0.10" {
		t.Errorf("sandbox config %v", cfg)
	}
	pod.Spec.HostNetwork = true
	pod.Spec.DNSPolicy = corev1.DNSClusterFirstWithHostNet
	cfg, _ = w.a.sandboxConfig(pod)
	if cfg.Hostname != "" || cfg.Linux.SecurityContext.NamespaceOptions.Network != runtimeapi.NamespaceMode_NODE {
		t.Errorf("hostNetwork sandbox config %v", cfg)
	}
}

func TestContainerConfig(t *testing.T) {
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "web-0", UID: "u-1"},
		Spec: corev1.PodSpec{
			Volumes: []corev1.Volume{{Name: "data", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}},
			Containers: []corev1.Container{{
				Name: "app", Image: "127.0.0.1:5000/app:1", Command: []string{"echo", "$(A)"}, Args: []string{"$(A)$(A)", "$$(A)"}, WorkingDir: "/w",
				Env:          []corev1.EnvVar{{Name: "A", Value: "a"}},
				VolumeMounts: []corev1.VolumeMount{{Name: "data", MountPath: "/data"}, {Name: "data", MountPath: "/sub", SubPath: "x/y", ReadOnly: true}},
				Resources: corev1.ResourceRequirements{
					Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("250m")},
					Limits:   corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("500m"), corev1.ResourceMemory: resource.MustParse("64Mi")}},
				SecurityContext: &corev1.SecurityContext{ReadOnlyRootFilesystem: new(true), AllowPrivilegeEscalation: new(false),
					Capabilities: &corev1.Capabilities{Add: []corev1.Capability{"NET_ADMIN"}, Drop: []corev1.Capability{"ALL"}}, RunAsUser: new(int64(1000))},
			}},
		},
	}
	w := testWorker(t, pod)
	c := &ctr{spec: pod.Spec.Containers[0], everRan: true, restarts: 2}
	c.image.ref = "sha256:img"
	cfg, err := w.containerConfig(pod, c, 3)
	if err != nil {
		t.Fatal(err)
	}
	res, sc := cfg.Linux.Resources, cfg.Linux.SecurityContext
	if !slices.Equal(cfg.Command, []string{"echo", "a"}) || !slices.Equal(cfg.Args, []string{"aa", "$(A)"}) || cfg.WorkingDir != "/w" ||
		cfg.LogPath != "app/3.log" || cfg.Metadata.Attempt != 3 || cfg.Image.Image != "sha256:img" || cfg.Labels[labelContainerName] != "app" ||
		len(cfg.Envs) != 1 || string(cfg.Envs[0].Value) != "a" ||
		res.CpuShares != 256 || res.CpuQuota != 50000 || res.CpuPeriod != 100000 || res.MemoryLimitInBytes != 64<<20 ||
		!sc.ReadonlyRootfs || !sc.NoNewPrivs || sc.RunAsUser.GetValue() != 1000 || len(sc.MaskedPaths) == 0 ||
		!slices.Equal(sc.Capabilities.AddCapabilities, []string{"NET_ADMIN"}) || !slices.Equal(sc.Capabilities.DropCapabilities, []string{"ALL"}) {
		t.Errorf("container config %v", cfg)
	}
	var mounts []string
	for _, m := range cfg.Mounts {
		mounts = append(mounts, m.ContainerPath+"="+strings.TrimPrefix(m.HostPath, w.a.cfg.DataDir)+map[bool]string{true: ":ro"}[m.Readonly])
	}
	want := []string{"/data=/pods/u-1/volumes/kubernetes.io~empty-dir/data", "/sub=/pods/u-1/volumes/kubernetes.io~empty-dir/data/x/y:ro", "/etc/hosts=/pods/u-1/etc-hosts"}
	if !slices.Equal(mounts, want) {
		t.Errorf("mounts %v, want %v", mounts, want)
	}

	// Image-less: the node's directories, read-only, and a PATH.
	c.spec.Image, c.image = "", imageState{}
	w.ensureImageless(c)
	cfg, err = w.containerConfig(pod, c, 0)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Image.Image != "shoal.invalid/empty:x" || !slices.ContainsFunc(cfg.Mounts, func(m *runtimeapi.Mount) bool { return m.ContainerPath == "/usr" && m.Readonly }) ||
		!slices.ContainsFunc(cfg.Envs, func(kv *runtimeapi.KeyValue) bool { return kv.Key == "PATH" }) {
		t.Errorf("image-less config %v", cfg)
	}
	c.spec.Command = nil
	var ce *configError
	if _, err := w.containerConfig(pod, c, 0); !errors.As(err, &ce) {
		t.Errorf("no image, no command: %v", err)
	}

	// runAsNonRoot, with the kubelet's words.
	c.spec = pod.Spec.Containers[0]
	c.spec.SecurityContext = &corev1.SecurityContext{RunAsNonRoot: new(true)}
	for _, tc := range []struct {
		img  *runtimeapi.Image
		want string
	}{
		{&runtimeapi.Image{}, "container has runAsNonRoot and image will run as root"},
		{&runtimeapi.Image{Uid: &runtimeapi.Int64Value{Value: 0}}, "container has runAsNonRoot and image will run as root"},
		{&runtimeapi.Image{Username: "nobody"}, "image has non-numeric user (nobody)"},
		{&runtimeapi.Image{Uid: &runtimeapi.Int64Value{Value: 65534}}, ""},
	} {
		c.image = imageState{ref: "sha256:img", info: tc.img}
		_, err := w.containerConfig(pod, c, 0)
		if (err == nil) != (tc.want == "") || err != nil && (!errors.As(err, &ce) || !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("runAsNonRoot with image user %v: %v, want %q", tc.img, err, tc.want)
		}
	}
	c.spec.SecurityContext.RunAsUser = new(int64(0))
	if _, err := w.containerConfig(pod, c, 0); err == nil || !strings.Contains(err.Error(), "runAsUser breaks non-root policy") {
		t.Errorf("runAsNonRoot with runAsUser 0: %v", err)
	}
}

func TestContainerResources(t *testing.T) {
	for _, tc := range []struct {
		req, lim              string
		shares, quota, memory int64
	}{
		{"", "", 2, 0, 0},
		{"100m", "", 102, 0, 0},
		{"", "2", 2048, 200000, 0},
		{"1m", "1m", 2, 1000, 0},
	} {
		c := &corev1.Container{}
		if tc.req != "" {
			c.Resources.Requests = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(tc.req)}
		}
		if tc.lim != "" {
			c.Resources.Limits = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(tc.lim)}
		}
		r := containerResources(c)
		if r.CpuShares != tc.shares || r.CpuQuota != tc.quota || r.MemoryLimitInBytes != tc.memory {
			t.Errorf("request %q limit %q: %v", tc.req, tc.lim, r)
		}
	}
}
