package network

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/shoalmesh/shoal/internal/atomicfile"
)

const hostsHeader = `# Shoal-managed hosts file.
127.0.0.1	localhost
::1	localhost ip6-localhost ip6-loopback
fe00::0	ip6-localnet
fe00::0	ip6-mcastprefix
fe00::1	ip6-allnodes
fe00::2	ip6-allrouters
`

// hostsFor builds the pod's /etc/hosts as kubelet does: the localhost lines
// and the pod's own name, fully qualified when it has a subdomain.
func (n *Network) hostsFor(r *record) string {
	host := r.Pod.hostname()
	line := r.IP.String() + "\t" + host
	if r.Pod.Subdomain != "" {
		line = fmt.Sprintf("%s\t%s.%s.%s.svc.%s\t%s", r.IP, host, r.Pod.Subdomain, r.Pod.Namespace, n.cfg.ClusterDomain, host)
	}
	return hostsHeader + line + "\n"
}

// hostname is spec.hostname or the pod name, cut to a DNS label as kubelet
// does.
func (p *Pod) hostname() string {
	h := p.Hostname
	if h == "" {
		h = p.Name
	}
	if len(h) > 63 {
		h = strings.TrimRight(h[:63], "-.")
	}
	return h
}

// writeFiles writes resolv.conf and, for pods with their own namespace,
// hosts.
func (n *Network) writeFiles(id string, r *record) error {
	dir := n.sandboxDir(id)
	resolv, err := n.resolvConfFor(&r.Pod)
	if err != nil {
		return err
	}
	if err := writeIfChanged(filepath.Join(dir, resolvConfFile), resolv); err != nil {
		return err
	}
	if r.Pod.HostNetwork {
		return nil
	}
	return writeIfChanged(filepath.Join(dir, hostsFile), n.hostsFor(r))
}

// writeIfChanged creates a file atomically but updates an existing one in
// place, and only if its content changed: the runtime bind-mounts these files
// into the pod, and a rename would leave the mount on the old inode. A file
// torn by a crash is rewritten when the sandbox is adopted.
func writeIfChanged(path, content string) error {
	old, err := os.ReadFile(path)
	switch {
	case err == nil && bytes.Equal(old, []byte(content)):
		return nil
	case err == nil:
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			return fmt.Errorf("update %s: %w", filepath.Base(path), err)
		}
		return nil
	}
	return atomicfile.Write(path, []byte(content), 0o644)
}
