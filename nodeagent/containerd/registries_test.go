package containerd_test

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/shoalmesh/shoal/nodeagent/containerd"
)

func TestRegistriesHostsFiles(t *testing.T) {
	r, err := containerd.ParseRegistries([]byte(`
mirrors:
  docker.io:
    endpoint: ["http://127.0.0.1:5000", "https://mirror.example.com/"]
configs:
  mirror.example.com:
    tls:
      insecure_skip_verify: true
  registry.example.com:5000:
    tls:
      ca_file: /etc/shoal/ca.pem
`))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"docker.io": `# Written by Shoal from its registries configuration.
server = "https://registry-1.docker.io"

[host."http://127.0.0.1:5000"]
  capabilities = ["pull", "resolve"]

[host."https://mirror.example.com"]
  capabilities = ["pull", "resolve"]
  skip_verify = true
`,
		"mirror.example.com": `# Written by Shoal from its registries configuration.
server = "https://mirror.example.com"
  skip_verify = true
`,
		"registry.example.com:5000": `# Written by Shoal from its registries configuration.
server = "https://registry.example.com:5000"
  ca = "/etc/shoal/ca.pem"
`,
	}
	if diff := cmp.Diff(want, r.HostsFiles()); diff != "" {
		t.Errorf("hosts.toml files (-want +got):\n%s", diff)
	}
}

func TestParseRegistriesRejectsBadInput(t *testing.T) {
	for _, tc := range []struct{ doc, want string }{
		{"mirrors:\n  docker.io:\n    endpoints: [x]\n", `unknown field "endpoints"`},
		{"mirrors:\n  docker.io:\n    endpoint: []\n", `mirrors["docker.io"].endpoint: no endpoints`},
		{"mirrors:\n  docker.io:\n    endpoint: [\"ftp://x\"]\n", `mirrors["docker.io"].endpoint[0]`},
		{"mirrors:\n  docker.io:\n    endpoint: [\"127.0.0.1:5000\"]\n", `endpoint[0]`},
		{"mirrors:\n  ../etc:\n    endpoint: [\"http://x\"]\n", `mirrors["../etc"]`},
		{"configs:\n  r.io:\n    tls:\n      ca_file: ca.pem\n", `must be an absolute path`},
	} {
		_, err := containerd.ParseRegistries([]byte(tc.doc))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ParseRegistries(%q) = %v, want an error containing %q", tc.doc, err, tc.want)
		}
	}
}

func TestConfigRender(t *testing.T) {
	base := containerd.Config{Dir: "/var/lib/shoal/containerd", SandboxImage: "shoal.invalid/pause:x",
		CNIBinDir: "/usr/lib/cni", CNIConfDir: "/etc/cni/net.d"}
	got, err := containerd.Render(base)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"version = 2\n",
		`root = "/var/lib/shoal/containerd/root"`,
		`address = "/run/shoal/`,
		`sandbox_image = "shoal.invalid/pause:x"`,
		"restrict_oom_score_adj = true",
		"SystemdCgroup = false",
		`stream_server_address = "127.0.0.1"`,
		`stream_server_port = "0"`,
		`config_path = "/var/lib/shoal/containerd/certs.d"`,
		`bin_dir = "/usr/lib/cni"`,
	} {
		if !strings.Contains(got, want) {
			t.Errorf("config.toml lacks %q:\n%s", want, got)
		}
	}
	for name, mutate := range map[string]func(*containerd.Config){
		"no dir":           func(c *containerd.Config) { c.Dir = "" },
		"no sandbox image": func(c *containerd.Config) { c.SandboxImage = "" },
		"no cni":           func(c *containerd.Config) { c.CNIConfDir = "" },
		"long state dir":   func(c *containerd.Config) { c.StateDir = "/tmp/" + strings.Repeat("x", 100) },
		"bad port":         func(c *containerd.Config) { c.StreamPort = 70000 },
	} {
		c := base
		mutate(&c)
		if _, err := containerd.Render(c); err == nil {
			t.Errorf("%s: Render succeeded", name)
		}
	}
}
