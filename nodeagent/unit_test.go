package nodeagent

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"

	"github.com/shoalmesh/shoal/nodeagent/containerd"
	"github.com/shoalmesh/shoal/nodeagent/network"
)

func TestPodPhase(t *testing.T) {
	running := corev1.ContainerStatus{State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}}
	creating := corev1.ContainerStatus{State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: reasonCreating}}}
	crashing := corev1.ContainerStatus{State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: reasonCrashLoop}},
		LastTerminationState: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 1}}}
	ok := corev1.ContainerStatus{State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 0}}}
	failed := corev1.ContainerStatus{State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 2}}}
	for _, tc := range []struct {
		name     string
		policy   corev1.RestartPolicy
		statuses []corev1.ContainerStatus
		want     corev1.PodPhase
	}{
		{"no containers yet", corev1.RestartPolicyAlways, nil, corev1.PodPending},
		{"creating", corev1.RestartPolicyAlways, []corev1.ContainerStatus{creating}, corev1.PodPending},
		{"one of two creating", corev1.RestartPolicyAlways, []corev1.ContainerStatus{running, creating}, corev1.PodPending},
		{"running", corev1.RestartPolicyAlways, []corev1.ContainerStatus{running}, corev1.PodRunning},
		{"crash loop", corev1.RestartPolicyAlways, []corev1.ContainerStatus{crashing}, corev1.PodRunning},
		{"one done, one running", corev1.RestartPolicyNever, []corev1.ContainerStatus{ok, running}, corev1.PodRunning},
		{"all done", corev1.RestartPolicyNever, []corev1.ContainerStatus{ok, ok}, corev1.PodSucceeded},
		{"one failed", corev1.RestartPolicyNever, []corev1.ContainerStatus{ok, failed}, corev1.PodFailed},
		{"done, on failure", corev1.RestartPolicyOnFailure, []corev1.ContainerStatus{ok}, corev1.PodSucceeded},
		{"restarting, on failure", corev1.RestartPolicyOnFailure, []corev1.ContainerStatus{crashing}, corev1.PodRunning},
	} {
		if got := podPhase(tc.policy, nil, tc.statuses); got != tc.want {
			t.Errorf("%s: phase %s, want %s", tc.name, got, tc.want)
		}
	}
	// Init containers: Pending until each has succeeded; Failed when one
	// failed and the pod never restarts.
	initializing := corev1.ContainerStatus{State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: reasonInitializing}}}
	for _, tc := range []struct {
		name   string
		policy corev1.RestartPolicy
		inits  []corev1.ContainerStatus
		want   corev1.PodPhase
	}{
		{"init running", corev1.RestartPolicyAlways, []corev1.ContainerStatus{running}, corev1.PodPending},
		{"init done, next waits", corev1.RestartPolicyAlways, []corev1.ContainerStatus{ok, creating}, corev1.PodPending},
		{"init crash loop", corev1.RestartPolicyAlways, []corev1.ContainerStatus{crashing}, corev1.PodPending},
		{"init failed, never", corev1.RestartPolicyNever, []corev1.ContainerStatus{failed}, corev1.PodFailed},
		{"inits done", corev1.RestartPolicyAlways, []corev1.ContainerStatus{ok, ok}, corev1.PodRunning},
	} {
		if got := podPhase(tc.policy, tc.inits, []corev1.ContainerStatus{running}); tc.want != corev1.PodRunning && got != tc.want {
			t.Errorf("%s: phase %s, want %s", tc.name, got, tc.want)
		} else if tc.want == corev1.PodRunning && got != corev1.PodRunning {
			t.Errorf("%s: phase %s, want Running", tc.name, got)
		}
	}
	if got := podPhase(corev1.RestartPolicyAlways, []corev1.ContainerStatus{running}, []corev1.ContainerStatus{initializing}); got != corev1.PodPending {
		t.Errorf("app containers initializing: phase %s, want Pending", got)
	}
}

func TestRestartBackOff(t *testing.T) {
	now := time.Now()
	c := &ctr{}
	var got []time.Duration
	for range 9 {
		c.ended(&corev1.ContainerStateTerminated{ExitCode: 1, StartedAt: mtime(now), FinishedAt: mtime(now.Add(time.Second))})
		c.afterExit(corev1.RestartPolicyAlways, now)
		got = append(got, c.delay)
	}
	want := []time.Duration{1, 2, 4, 8, 16, 32, 60, 60, 60}
	for i := range want {
		want[i] *= time.Second
	}
	if !cmp.Equal(got, want) {
		t.Errorf("back-offs %v, want %v", got, want)
	}
	// Ten minutes up resets it.
	c.ended(&corev1.ContainerStateTerminated{ExitCode: 1, StartedAt: mtime(now.Add(-11 * time.Minute)), FinishedAt: mtime(now)})
	c.afterExit(corev1.RestartPolicyAlways, now)
	if c.delay != time.Second || !c.notBefore.Equal(now.Add(time.Second)) {
		t.Errorf("after 11 minutes up: back-off %v", c.delay)
	}
	for _, tc := range []struct {
		policy corev1.RestartPolicy
		code   int32
		final  bool
	}{
		{corev1.RestartPolicyAlways, 0, false}, {corev1.RestartPolicyAlways, 1, false},
		{corev1.RestartPolicyOnFailure, 0, true}, {corev1.RestartPolicyOnFailure, 1, false},
		{corev1.RestartPolicyNever, 0, true}, {corev1.RestartPolicyNever, 1, true},
	} {
		c := &ctr{}
		c.ended(&corev1.ContainerStateTerminated{ExitCode: tc.code})
		c.afterExit(tc.policy, now)
		if c.final != tc.final {
			t.Errorf("%s, exit %d: final %v", tc.policy, tc.code, c.final)
		}
	}
}

func TestRestoreFromStatus(t *testing.T) {
	term := &corev1.ContainerStateTerminated{ExitCode: 137, Reason: "Error"}
	c := &ctr{}
	c.restore(&corev1.ContainerStatus{RestartCount: 4, State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}},
		LastTerminationState: corev1.ContainerState{Terminated: term}})
	if c.restarts != 4 || !c.everRan || !c.lost || c.last.ExitCode != 137 {
		t.Errorf("restored running: %+v", c)
	}
	c = &ctr{}
	c.restore(&corev1.ContainerStatus{State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: reasonCreating}}})
	if c.everRan || c.last != nil {
		t.Errorf("restored never started: %+v", c)
	}
}

func TestExpand(t *testing.T) {
	vars := map[string]string{"A": "1", "B": "two"}
	for in, want := range map[string]string{
		"plain":        "plain",
		"$(A)":         "1",
		"x$(A)y$(B)z":  "x1ytwoz",
		"$(C)":         "$(C)",
		"$$(A)":        "$(A)",
		"$A":           "$A",
		"cost: $5":     "cost: $5",
		"$(A":          "$(A",
		"end$":         "end$",
		"$(A)$(A)$$$$": "11$$",
	} {
		if got := expand(in, vars); got != want {
			t.Errorf("expand(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestContainerEnv(t *testing.T) {
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "p", UID: "u-1", Labels: map[string]string{"app": "web"}},
		Spec: corev1.PodSpec{NodeName: "n1"}}
	c := &corev1.Container{Name: "c",
		Resources: corev1.ResourceRequirements{Limits: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1500m"), corev1.ResourceMemory: resource.MustParse("64Mi")}},
		Env: []corev1.EnvVar{
			{Name: "BASE", Value: "b"},
			{Name: "DERIVED", Value: "$(BASE)-x"},
			{Name: "IP", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "status.podIP"}}},
			{Name: "HOST", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "status.hostIP"}}},
			{Name: "APP", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.labels['app']"}}},
			{Name: "CPU", ValueFrom: &corev1.EnvVarSource{ResourceFieldRef: &corev1.ResourceFieldSelector{Resource: "limits.cpu"}}},
			{Name: "MEM_MI", ValueFrom: &corev1.EnvVarSource{ResourceFieldRef: &corev1.ResourceFieldSelector{Resource: "limits.memory", Divisor: resource.MustParse("1Mi")}}},
		}}
	env, _, err := containerEnv(pod, c, "10.244.1.5", "192.0.2.9", objects{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := []envVar{{"BASE", "b"}, {"DERIVED", "b-x"}, {"IP", "10.244.1.5"}, {"HOST", "192.0.2.9"}, {"APP", "web"}, {"CPU", "2"}, {"MEM_MI", "64"}}
	if !cmp.Equal(env, want, cmp.AllowUnexported(envVar{})) {
		t.Errorf("env %v, want %v", env, want)
	}
}

// objects are ConfigMaps' and Secrets' data by name.
type objects struct {
	cms     map[string]map[string]string
	secrets map[string]map[string][]byte
}

func (o objects) configMap(name string) (map[string]string, error) {
	if d, ok := o.cms[name]; ok {
		return d, nil
	}
	return nil, fmt.Errorf("configmap %q %w", name, ErrNotFound)
}

func (o objects) secret(name string) (map[string][]byte, error) {
	if d, ok := o.secrets[name]; ok {
		return d, nil
	}
	return nil, fmt.Errorf("secret %q %w", name, ErrNotFound)
}

func TestContainerEnvFromObjects(t *testing.T) {
	objs := objects{
		cms:     map[string]map[string]string{"cfg": {"MODE": "fast", "LEVEL": "3", "not-a-name=": "x"}},
		secrets: map[string]map[string][]byte{"db": {"password": []byte("s3cret"), "USER": []byte("app")}},
	}
	cmRef := func(name, key string, optional bool) *corev1.EnvVarSource {
		return &corev1.EnvVarSource{ConfigMapKeyRef: &corev1.ConfigMapKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: name}, Key: key, Optional: &optional}}
	}
	secretRef := func(name, key string, optional bool) *corev1.EnvVarSource {
		return &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: name}, Key: key, Optional: &optional}}
	}
	kube := serviceEnv("kubernetes", "10.96.0.1", []corev1.ServicePort{{Name: "https", Port: 443, Protocol: corev1.ProtocolTCP}})
	for _, tc := range []struct {
		name    string
		c       corev1.Container
		want    []envVar
		wantErr string
	}{
		{name: "keyRefs", c: corev1.Container{Env: []corev1.EnvVar{
			{Name: "MODE", ValueFrom: cmRef("cfg", "MODE", false)},
			{Name: "PW", ValueFrom: secretRef("db", "password", false)},
			{Name: "URL", Value: "db://$(PW)@x/$(MODE)"},
			{Name: "GONE", ValueFrom: cmRef("nope", "k", true)},
			{Name: "NOKEY", ValueFrom: secretRef("db", "nokey", true)},
		}}, want: []envVar{{"MODE", "fast"}, {"PW", "s3cret"}, {"URL", "db://s3cret@x/fast"}}},
		{name: "envFrom then env overriding", c: corev1.Container{
			EnvFrom: []corev1.EnvFromSource{
				{ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"}}},
				{Prefix: "DB_", SecretRef: &corev1.SecretEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "db"}}},
				{ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "nope"}, Optional: new(true)}},
			},
			Env: []corev1.EnvVar{{Name: "LEVEL", Value: "9"}},
		}, want: []envVar{{"LEVEL", "9"}, {"MODE", "fast"}, {"DB_USER", "app"}, {"DB_password", "s3cret"}}},
		{name: "kubernetes service", c: corev1.Container{Env: []corev1.EnvVar{{Name: "KUBERNETES_SERVICE_PORT", Value: "mine"}}},
			want: append([]envVar{{"KUBERNETES_SERVICE_PORT", "mine"}, {"KUBERNETES_SERVICE_HOST", "10.96.0.1"}}, kube[2:]...)},
		{name: "missing configmap", c: corev1.Container{Env: []corev1.EnvVar{{Name: "X", ValueFrom: cmRef("nope", "k", false)}}},
			wantErr: `env[0] X: configmap "nope" not found`},
		{name: "missing key", c: corev1.Container{Env: []corev1.EnvVar{{Name: "X", ValueFrom: secretRef("db", "k", false)}}},
			wantErr: "couldn't find key k in Secret db"},
		{name: "missing envFrom secret", c: corev1.Container{EnvFrom: []corev1.EnvFromSource{{SecretRef: &corev1.SecretEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "x"}}}}},
			wantErr: `envFrom[0]: secret "x" not found`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.c.Name = "c"
			svc := []envVar(nil)
			if tc.name == "kubernetes service" {
				svc = kube
			}
			env, _, err := containerEnv(&corev1.Pod{}, &tc.c, "", "", objs, svc)
			if tc.wantErr != "" {
				var ce *configError
				if !errors.As(err, &ce) || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err %v, want a config error with %q", err, tc.wantErr)
				}
				if strings.Contains(err.Error(), "s3cret") {
					t.Errorf("a secret's value in an error: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !cmp.Equal(env, tc.want, cmp.AllowUnexported(envVar{})) {
				t.Errorf("env %v\nwant %v", env, tc.want)
			}
		})
	}
}

func TestServiceEnv(t *testing.T) {
	got := serviceEnv("kubernetes", "10.96.0.1", []corev1.ServicePort{{Name: "https", Port: 443, Protocol: corev1.ProtocolTCP}})
	want := []envVar{{"KUBERNETES_SERVICE_HOST", "10.96.0.1"}, {"KUBERNETES_SERVICE_PORT", "443"}, {"KUBERNETES_SERVICE_PORT_HTTPS", "443"},
		{"KUBERNETES_PORT", "tcp://10.96.0.1:443"}, {"KUBERNETES_PORT_443_TCP", "tcp://10.96.0.1:443"}, {"KUBERNETES_PORT_443_TCP_PROTO", "tcp"},
		{"KUBERNETES_PORT_443_TCP_PORT", "443"}, {"KUBERNETES_PORT_443_TCP_ADDR", "10.96.0.1"}}
	if !cmp.Equal(got, want, cmp.AllowUnexported(envVar{})) {
		t.Errorf("serviceEnv %v\nwant %v", got, want)
	}
	if env := serviceEnv("headless", corev1.ClusterIPNone, []corev1.ServicePort{{Port: 80}}); env != nil {
		t.Errorf("a headless Service's env: %v", env)
	}
}

func TestParseCPUStat(t *testing.T) {
	s, err := parseCPUStat([]byte("cpu  100 5 50 800 40 1 2 3 0 0\ncpu0 50 2 25 400 20 1 1 1 0 0\ncpu1 50 3 25 400 20 0 1 2 0 0\nintr 1\n"))
	if err != nil {
		t.Fatal(err)
	}
	if s.ncpu != 2 || s.total != 1001 || s.busy != 161 {
		t.Errorf("sample %+v", s)
	}
	if _, err := parseCPUStat([]byte("intr 1\n")); err == nil {
		t.Error("no cpu lines: no error")
	}
}

func TestCountEstablished(t *testing.T) {
	table := `  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1 1 0000000000000000 100 0 0 10 0
   1: 0500F40A:1F90 0100F40A:D2B4 01 00000000:00000000 00:00000000 00000000     0        0 2 1 0000000000000000 20 4 30 10 -1
   2: 0500F40A:1F90 0100F40A:D2B6 01 00000000:00000000 00:00000000 00000000     0        0 3 1 0000000000000000 20 4 30 10 -1
   3: 0500F40A:1F90 0100F40A:D2B8 06 00000000:00000000 03:00000000 00000000     0        0 0 3 0000000000000000
`
	if n := countEstablished([]byte(table)); n != 2 {
		t.Errorf("%d established, want 2", n)
	}
}

func TestParseMeminfo(t *testing.T) {
	m := parseMeminfo([]byte("MemTotal:       16384 kB\nMemAvailable:    8192 kB\nHugePages_Total:       0\n"))
	if m["MemTotal"] != 16384*1024 || m["MemAvailable"] != 8192*1024 || m["HugePages_Total"] != 0 {
		t.Errorf("meminfo %v", m)
	}
}

func TestPeersOf(t *testing.T) {
	node := func(name, cidr, ip string) *corev1.Node {
		n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: corev1.NodeSpec{PodCIDR: cidr}}
		if ip != "" {
			n.Status.Addresses = []corev1.NodeAddress{{Type: corev1.NodeHostName, Address: name}, {Type: corev1.NodeInternalIP, Address: ip}}
		}
		return n
	}
	got := peersOf([]*corev1.Node{
		node("self", "10.244.0.0/24", "192.0.2.10"),
		node("b", "10.244.2.0/24", "192.0.2.12"),
		node("a", "10.244.1.0/24", "192.0.2.11"),
		node("no-cidr", "", "192.0.2.13"),
		node("no-ip", "10.244.3.0/24", ""),
	}, "self")
	want := []network.Peer{
		{PodCIDR: netip.MustParsePrefix("10.244.1.0/24"), NodeIP: netip.MustParseAddr("192.0.2.11")},
		{PodCIDR: netip.MustParsePrefix("10.244.2.0/24"), NodeIP: netip.MustParseAddr("192.0.2.12")},
	}
	if !cmp.Equal(got, want, cmp.Comparer(func(a, b network.Peer) bool { return a == b })) {
		t.Errorf("peers %v, want %v", got, want)
	}
}

// A status built from the same state compares equal to the one read back
// from the API, whose times have whole seconds: no write loop.
func TestStatusRoundTrip(t *testing.T) {
	now := time.Now()
	st := corev1.PodStatus{Phase: corev1.PodRunning, StartTime: new(mtime(now)),
		Conditions:        []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: mtime(now)}},
		ContainerStatuses: []corev1.ContainerStatus{{Name: "c", State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: mtime(now)}}}}}
	b, err := json.Marshal(st)
	if err != nil {
		t.Fatal(err)
	}
	var back corev1.PodStatus
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if !statusEqual(&st, &back) {
		t.Errorf("status changed in a round trip:\n%s", cmp.Diff(st, back))
	}
}

func TestConfigDefaults(t *testing.T) {
	rc := &rest.Config{Host: "https://127.0.0.1:6443"}
	cfg := Config{REST: rc, NodeName: "n1", NodeIP: netip.MustParseAddr("192.0.2.7"), DataDir: "rel/dir"}
	if err := cfg.setDefaults(); err != nil {
		t.Fatal(err)
	}
	if cfg.LogAddr != "192.0.2.7:10250" || cfg.MaxPods != DefaultMaxPods || !strings.HasPrefix(cfg.DataDir, "/") || cfg.Logger == nil ||
		cfg.LeaseRenewInterval != DefaultLeaseRenewInterval ||
		cfg.CgroupRoot != "shoal" || cfg.Bridge != "shoal0" || cfg.ImagesDir != cfg.DataDir+"/images" ||
		cfg.CNIConfDir != cfg.DataDir+"/cni/net.d" || cfg.CNIBinDir != cfg.DataDir+"/cni/bin" {
		t.Errorf("defaults %+v", cfg)
	}
	own := Config{REST: rc, NodeName: "n1", NodeIP: netip.MustParseAddr("192.0.2.7"), DataDir: "d", NetNS: "/proc/self/ns/net"}
	if err := own.setDefaults(); err != nil {
		t.Errorf("NetNS /proc/self/ns/net: %v", err)
	}
	for name, c := range map[string]Config{
		"no API server":  {NodeName: "n1", NodeIP: netip.MustParseAddr("192.0.2.7"), DataDir: "d"},
		"no data dir":    {REST: rc, NodeName: "n1", NodeIP: netip.MustParseAddr("192.0.2.7")},
		"bad name":       {REST: rc, NodeName: "Node_1", NodeIP: netip.MustParseAddr("192.0.2.7"), DataDir: "d"},
		"IPv6 node IP":   {REST: rc, NodeName: "n1", NodeIP: netip.MustParseAddr("fd00::1"), DataDir: "d"},
		"host bits":      {REST: rc, NodeName: "n1", NodeIP: netip.MustParseAddr("192.0.2.7"), DataDir: "d", PodCIDR: netip.MustParsePrefix("10.244.1.1/24")},
		"netns relative": {REST: rc, NodeName: "n1", NodeIP: netip.MustParseAddr("192.0.2.7"), DataDir: "d", NetNS: "run/netns/n1"},
		"netns a file":   {REST: rc, NodeName: "n1", NodeIP: netip.MustParseAddr("192.0.2.7"), DataDir: "d", NetNS: "/etc/hostname"},
		"negative renew": {REST: rc, NodeName: "n1", NodeIP: netip.MustParseAddr("192.0.2.7"), DataDir: "d", LeaseRenewInterval: -time.Second},
		"cgroup root /":  {REST: rc, NodeName: "n1", NodeIP: netip.MustParseAddr("192.0.2.7"), DataDir: "d", CgroupRoot: "/shoal"},
		"cgroup root ..": {REST: rc, NodeName: "n1", NodeIP: netip.MustParseAddr("192.0.2.7"), DataDir: "d", CgroupRoot: "../x"},
		"bad mirror": {REST: rc, NodeName: "n1", NodeIP: netip.MustParseAddr("192.0.2.7"), DataDir: "d",
			Registries: containerd.Registries{Mirrors: map[string]containerd.Mirror{"docker.io": {Endpoints: []string{"ftp://x"}}}}},
	} {
		if err := c.setDefaults(); !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("%s: %v, want ErrInvalidConfig", name, err)
		}
	}
}
