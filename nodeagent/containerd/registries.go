package containerd

import (
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"sigs.k8s.io/yaml"
)

// Registries configures how images are pulled from each registry host, in
// the shape of k3s's registries.yaml:
//
//	mirrors:
//	  docker.io:
//	    endpoint: ["http://127.0.0.1:5000"]
//	configs:
//	  "registry.example.com:5000":
//	    tls:
//	      insecure_skip_verify: true
//
// A mirror endpoint's scheme says whether it speaks plain HTTP. Credentials
// are not configured here: pods bring them through imagePullSecrets.
type Registries struct {
	// Mirrors maps a registry host (as in an image reference: "docker.io",
	// "ghcr.io", "registry.example.com:5000") to the endpoints tried, in
	// order, before the registry itself.
	Mirrors map[string]Mirror `json:"mirrors,omitempty"`
	// Configs maps a registry or mirror host to its TLS settings.
	Configs map[string]RegistryConfig `json:"configs,omitempty"`
}

// Mirror lists a registry's mirror endpoints: URLs such as
// "https://mirror.example.com" or "http://127.0.0.1:5000".
type Mirror struct {
	Endpoints []string `json:"endpoint"`
}

// RegistryConfig holds one host's TLS settings.
type RegistryConfig struct {
	TLS *TLSConfig `json:"tls,omitempty"`
}

// TLSConfig is a host's TLS trust.
type TLSConfig struct {
	CAFile             string `json:"ca_file,omitempty"`
	InsecureSkipVerify bool   `json:"insecure_skip_verify,omitempty"`
}

// ParseRegistries reads a registries.yaml document. Unknown fields are an
// error, so a typo is not silently ignored.
func ParseRegistries(data []byte) (Registries, error) {
	var r Registries
	if err := yaml.UnmarshalStrict(data, &r); err != nil {
		return Registries{}, fmt.Errorf("parse registries: %w", err)
	}
	if err := r.Validate(); err != nil {
		return Registries{}, err
	}
	return r, nil
}

// Validate checks every host and endpoint, naming the first bad one.
func (r Registries) Validate() error {
	for host, m := range r.Mirrors {
		if err := validHost(host); err != nil {
			return fmt.Errorf("registries: mirrors[%q]: %w", host, err)
		}
		if len(m.Endpoints) == 0 {
			return fmt.Errorf("registries: mirrors[%q].endpoint: no endpoints", host)
		}
		for i, e := range m.Endpoints {
			if _, err := endpointURL(e); err != nil {
				return fmt.Errorf("registries: mirrors[%q].endpoint[%d]: %w", host, i, err)
			}
		}
	}
	for host, c := range r.Configs {
		if err := validHost(host); err != nil {
			return fmt.Errorf("registries: configs[%q]: %w", host, err)
		}
		if c.TLS != nil && c.TLS.CAFile != "" && !filepath.IsAbs(c.TLS.CAFile) {
			return fmt.Errorf("registries: configs[%q].tls.ca_file %q: must be an absolute path", host, c.TLS.CAFile)
		}
	}
	return nil
}

// validHost accepts a host or host:port as it appears in an image
// reference; it becomes a directory name, so nothing else may pass.
func validHost(h string) error {
	if h == "" || strings.ContainsAny(h, "/\\ ") || h == "." || h == ".." {
		return fmt.Errorf("%q is not a registry host (host or host:port)", h)
	}
	host := h
	if hp, port, err := net.SplitHostPort(h); err == nil {
		if port == "" || strings.Trim(port, "0123456789") != "" {
			return fmt.Errorf("%q: bad port", h)
		}
		host = hp
	}
	if strings.Trim(strings.ToLower(host), "abcdefghijklmnopqrstuvwxyz0123456789.-:[]") != "" {
		return fmt.Errorf("%q is not a registry host (host or host:port)", h)
	}
	return nil
}

func endpointURL(e string) (*url.URL, error) {
	u, err := url.Parse(e)
	if err != nil {
		return nil, fmt.Errorf("%q: %w", e, err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("%q: want an http:// or https:// URL with a host", e)
	}
	if u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return nil, fmt.Errorf("%q: no user, query or fragment allowed", e)
	}
	return u, nil
}

// defaultServer is the registry's own endpoint, tried after its mirrors.
func defaultServer(host string) string {
	if host == "docker.io" {
		return "https://registry-1.docker.io"
	}
	return "https://" + host
}

// hostsFiles renders one hosts.toml per registry host, keyed by the
// directory name containerd looks up (the host as in image references).
func (r Registries) hostsFiles() map[string]string {
	out := map[string]string{}
	hosts := map[string]bool{}
	for h := range r.Mirrors {
		hosts[h] = true
	}
	for h := range r.Configs {
		hosts[h] = true
	}
	for h := range hosts {
		var b strings.Builder
		b.WriteString("# Written by Shoal from its registries configuration.\n")
		fmt.Fprintf(&b, "server = %s\n", tomlString(defaultServer(h)))
		writeTLS(&b, r.Configs[h].TLS)
		for _, e := range r.Mirrors[h].Endpoints {
			u, _ := endpointURL(e) // validated
			fmt.Fprintf(&b, "\n[host.%s]\n  capabilities = [\"pull\", \"resolve\"]\n", tomlString(strings.TrimSuffix(u.String(), "/")))
			writeTLS(&b, r.Configs[u.Host].TLS)
		}
		out[h] = b.String()
	}
	return out
}

func writeTLS(b *strings.Builder, t *TLSConfig) {
	if t == nil {
		return
	}
	if t.InsecureSkipVerify {
		b.WriteString("  skip_verify = true\n")
	}
	if t.CAFile != "" {
		fmt.Fprintf(b, "  ca = %s\n", tomlString(t.CAFile))
	}
}

// writeHostsDir replaces dir's contents with the rendered hosts.toml
// files: they are written beside it first, so a failure leaves the old
// directory as it was.
func (r Registries) writeHostsDir(dir string) error {
	files := r.hostsFiles()
	names := make([]string, 0, len(files))
	for h := range files {
		names = append(names, h)
	}
	sort.Strings(names)
	tmp := dir + ".new"
	if err := os.RemoveAll(tmp); err != nil {
		return fmt.Errorf("write registry hosts: %w", err)
	}
	if err := os.MkdirAll(tmp, 0o755); err != nil {
		return fmt.Errorf("write registry hosts: %w", err)
	}
	for _, h := range names {
		hd := filepath.Join(tmp, h)
		if err := os.MkdirAll(hd, 0o755); err != nil {
			return fmt.Errorf("write registry hosts %s: %w", h, err)
		}
		if err := os.WriteFile(filepath.Join(hd, "hosts.toml"), []byte(files[h]), 0o644); err != nil {
			return fmt.Errorf("write registry hosts %s: %w", h, err)
		}
	}
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("write registry hosts: %w", err)
	}
	if err := os.Rename(tmp, dir); err != nil {
		return fmt.Errorf("write registry hosts: %w", err)
	}
	return nil
}
