package runtime

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// PodRef names the pod a container belongs to.
type PodRef struct {
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	UID       string `json:"uid"`
}

// Mount bind-mounts the file or directory Source (a path on the node) over
// Target inside the container. Target must exist: the container sees the
// node's file system, and nothing is created on it.
type Mount struct {
	Source   string `json:"source"`
	Target   string `json:"target"`
	ReadOnly bool   `json:"readOnly,omitempty"`
}

// Spec is what the runtime needs to run one container of a pod.
type Spec struct {
	Pod  PodRef `json:"pod"`
	Name string `json:"name"` // the container's name in the pod

	// Command replaces the entrypoint, as in Kubernetes; there is no image,
	// so it is required. Command[0] without a slash is looked up in the PATH
	// of Env, which defaults to the node's (the agent's) PATH.
	Command    []string `json:"command"`
	Args       []string `json:"args,omitempty"`
	Env        []string `json:"env,omitempty"`        // "NAME=value"
	WorkingDir string   `json:"workingDir,omitempty"` // default "/"

	// Hostname is the container's host name in its own UTS namespace;
	// "" means the pod name (cut to 63 characters, as Kubernetes does). The
	// caller passes pod.spec.hostname here; a subdomain belongs in /etc/hosts.
	Hostname string `json:"hostname,omitempty"`
	// NetNS is the network namespace to join, a path such as
	// /run/netns/<name> or /proc/<pid>/ns/net; "" keeps the node's network
	// (hostNetwork).
	NetNS  string  `json:"netns,omitempty"`
	Mounts []Mount `json:"mounts,omitempty"` // e.g. the pod's /etc/resolv.conf and /etc/hosts

	CPUMillis   int64 `json:"cpuMillis,omitempty"`   // CPU limit in millicores; 0 = none
	MemoryBytes int64 `json:"memoryBytes,omitempty"` // memory limit; 0 = none
}

// maxHostname is what sethostname(2) accepts and Kubernetes cuts pod names to.
const maxHostname = 63

// validate rejects what would fail later or escape the runtime's
// directories: the names become path elements of state, log and cgroup paths.
func (s *Spec) validate() error {
	for _, f := range []struct{ what, v string }{
		{"pod namespace", s.Pod.Namespace}, {"pod name", s.Pod.Name},
		{"pod UID", s.Pod.UID}, {"container name", s.Name},
	} {
		if err := checkPathElem(f.v); err != nil {
			return fmt.Errorf("%w: %s %q: %v", ErrInvalidSpec, f.what, f.v, err)
		}
	}
	if len(s.Command) == 0 || s.Command[0] == "" {
		return fmt.Errorf("%w: no command (there is no image entrypoint)", ErrInvalidSpec)
	}
	for _, e := range s.Env {
		if i := strings.IndexByte(e, '='); i <= 0 {
			return fmt.Errorf("%w: environment entry %q is not NAME=value", ErrInvalidSpec, e)
		}
	}
	if s.WorkingDir != "" && !filepath.IsAbs(s.WorkingDir) {
		return fmt.Errorf("%w: workingDir %q is not absolute", ErrInvalidSpec, s.WorkingDir)
	}
	if len(s.Hostname) > maxHostname {
		return fmt.Errorf("%w: hostname %q longer than %d", ErrInvalidSpec, s.Hostname, maxHostname)
	}
	if s.NetNS != "" && !filepath.IsAbs(s.NetNS) {
		return fmt.Errorf("%w: netns %q is not an absolute path", ErrInvalidSpec, s.NetNS)
	}
	for _, m := range s.Mounts {
		if !filepath.IsAbs(m.Source) || !filepath.IsAbs(m.Target) {
			return fmt.Errorf("%w: mount %s -> %s: paths must be absolute", ErrInvalidSpec, m.Source, m.Target)
		}
	}
	if s.CPUMillis < 0 || s.MemoryBytes < 0 {
		return fmt.Errorf("%w: negative limit", ErrInvalidSpec)
	}
	return nil
}

func checkPathElem(v string) error {
	switch {
	case v == "":
		return fmt.Errorf("empty")
	case v == "." || v == ".." || strings.HasPrefix(v, "."):
		return fmt.Errorf("starts with a dot")
	case strings.ContainsAny(v, "/\x00"):
		return fmt.Errorf("contains / or NUL")
	case len(v) > 253:
		return fmt.Errorf("too long")
	}
	return nil
}

// hostname is the UTS host name the container gets.
func (s *Spec) hostname() string {
	if s.Hostname != "" {
		return s.Hostname
	}
	h := s.Pod.Name
	if len(h) > maxHostname {
		h = strings.TrimRight(h[:maxHostname], "-.")
	}
	return h
}

// defaultPath is the container PATH when neither the spec nor the node has one.
const defaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// environ is the container's environment: Env plus the PATH, HOSTNAME and
// HOME a container runtime sets when the image would (there is none).
func (s *Spec) environ() []string {
	env := append([]string(nil), s.Env...)
	has := func(name string) bool {
		for _, e := range env {
			if strings.HasPrefix(e, name+"=") {
				return true
			}
		}
		return false
	}
	if !has("PATH") {
		p := os.Getenv("PATH")
		if p == "" {
			p = defaultPath
		}
		env = append(env, "PATH="+p)
	}
	if !has("HOSTNAME") {
		env = append(env, "HOSTNAME="+s.hostname())
	}
	if !has("HOME") {
		env = append(env, "HOME=/root")
	}
	return env
}

// resolveCommand finds Command[0] on the node as the container will: a name
// without a slash in env's PATH, a relative path from the working directory.
// Doing it here, before anything starts, makes "not found" a plain error of
// Start with the text a pod status shows.
func resolveCommand(name, workingDir string, env []string) (string, error) {
	if strings.Contains(name, "/") {
		p := name
		if !filepath.IsAbs(p) {
			p = filepath.Join(workingDir, p)
		}
		if err := checkExecutable(p); err != nil {
			return "", fmt.Errorf("command %q: %w", name, err)
		}
		return p, nil
	}
	pathEnv := ""
	for _, e := range env {
		if v, ok := strings.CutPrefix(e, "PATH="); ok {
			pathEnv = v
		}
	}
	for _, dir := range filepath.SplitList(pathEnv) {
		if dir == "" || !filepath.IsAbs(dir) {
			continue // a relative PATH entry would depend on the working directory
		}
		p := filepath.Join(dir, name)
		if checkExecutable(p) == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("command %q: %w", name, ErrCommandNotFound)
}

func checkExecutable(p string) error {
	st, err := os.Stat(p)
	if err != nil {
		return err
	}
	if st.IsDir() || st.Mode().Perm()&0o111 == 0 {
		return fmt.Errorf("%s: permission denied", p)
	}
	return nil
}
