package network

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"

	"github.com/shoalmesh/shoal/internal/atomicfile"
)

const (
	recordFile     = "sandbox.json"
	resolvConfFile = "resolv.conf"
	hostsFile      = "hosts"
	recordVersion  = 1
)

// record is a sandbox as persisted in <StateDir>/sandboxes/<ID>/sandbox.json.
// It is written before any kernel object is made (Complete false) and again
// once all are (Complete true), so an agent that dies half-way finds what to
// clean on restart.
type record struct {
	Version  int        `json:"version"`
	Pod      Pod        `json:"pod"`
	IP       netip.Addr `json:"ip,omitzero"`
	NetNS    string     `json:"netns,omitempty"`
	HostVeth string     `json:"hostVeth,omitempty"`
	Complete bool       `json:"complete"`
}

func (n *Network) saveRecord(id string, r *record) error {
	dir := n.sandboxDir(id)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("create sandbox dir: %w", err)
	}
	r.Version = recordVersion
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return fmt.Errorf("encode sandbox record: %w", err)
	}
	if err := atomicfile.Write(filepath.Join(dir, recordFile), append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("save sandbox record: %w", err)
	}
	return nil
}

// loadRecord returns the record of id, nil if there is none.
func (n *Network) loadRecord(id string) (*record, error) {
	b, err := os.ReadFile(filepath.Join(n.sandboxDir(id), recordFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read sandbox record %s: %w", id, err)
	}
	var r record
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("parse sandbox record %s: %w", id, err)
	}
	if r.Version != recordVersion || r.Pod.UID == "" || SandboxID(r.Pod.UID) != id {
		return nil, fmt.Errorf("parse sandbox record %s: version %d, uid %q do not match", id, r.Version, r.Pod.UID)
	}
	return &r, nil
}

// listRecordIDs lists the sandbox directories, whatever their content.
func (n *Network) listRecordIDs() ([]string, error) {
	entries, err := os.ReadDir(filepath.Join(n.cfg.StateDir, sandboxSubdir))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list sandboxes: %w", err)
	}
	var ids []string
	for _, e := range entries {
		if e.IsDir() && sandboxIDRE.MatchString(e.Name()) {
			ids = append(ids, e.Name())
		}
	}
	return ids, nil
}

func (r *record) sandbox(n *Network, id string) *Sandbox {
	dir := n.sandboxDir(id)
	s := &Sandbox{
		UID:            r.Pod.UID,
		HostNetwork:    r.Pod.HostNetwork,
		ResolvConfPath: filepath.Join(dir, resolvConfFile),
	}
	if r.Pod.HostNetwork {
		s.IP = n.cfg.NodeIP
		s.NetNSPath = n.cfg.NetNS
		return s
	}
	s.IP = r.IP
	s.NetNSPath = r.NetNS
	s.HostVeth = r.HostVeth
	s.HostsPath = filepath.Join(dir, hostsFile)
	return s
}
