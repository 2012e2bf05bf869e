package runtime

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestSpecValidate(t *testing.T) {
	good := Spec{Pod: PodRef{Namespace: "default", Name: "web-0", UID: "u1"}, Name: "main", Command: []string{"sh"}}
	tests := []struct {
		name string
		mod  func(*Spec)
		ok   bool
	}{
		{"good", func(*Spec) {}, true},
		{"no command", func(s *Spec) { s.Command = nil }, false},
		{"empty command", func(s *Spec) { s.Command = []string{""} }, false},
		{"no pod UID", func(s *Spec) { s.Pod.UID = "" }, false},
		{"slash in name", func(s *Spec) { s.Name = "a/b" }, false},
		{"dot dot", func(s *Spec) { s.Pod.Namespace = ".." }, false},
		{"env without =", func(s *Spec) { s.Env = []string{"FOO"} }, false},
		{"relative workingDir", func(s *Spec) { s.WorkingDir = "tmp" }, false},
		{"relative netns", func(s *Spec) { s.NetNS = "netns/x" }, false},
		{"relative mount", func(s *Spec) { s.Mounts = []Mount{{Source: "x", Target: "/etc/hosts"}} }, false},
		{"negative limit", func(s *Spec) { s.MemoryBytes = -1 }, false},
		{"long hostname", func(s *Spec) { s.Hostname = strings.Repeat("h", 64) }, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := good.clone()
			tc.mod(&s)
			err := s.validate()
			if tc.ok != (err == nil) {
				t.Fatalf("validate: %v", err)
			}
			if err != nil && !errors.Is(err, ErrInvalidSpec) {
				t.Errorf("%v is not ErrInvalidSpec", err)
			}
		})
	}
}

func TestHostnameAndEnvironment(t *testing.T) {
	s := Spec{Pod: PodRef{Name: strings.Repeat("a", 62) + "-bbb"}}
	if h := s.hostname(); h != strings.Repeat("a", 62) {
		t.Errorf("hostname %q: a pod name cut to 63 characters, without a trailing dash", h)
	}
	s.Hostname = "web-0"
	env := strings.Join(s.environ(), "\n")
	for _, want := range []string{"HOSTNAME=web-0", "HOME=/root", "PATH="} {
		if !strings.Contains(env, want) {
			t.Errorf("environment lacks %s:\n%s", want, env)
		}
	}
	s.Env = []string{"PATH=/opt/bin", "HOME=/home/app"}
	env = strings.Join(s.environ(), "\n")
	if strings.Count(env, "PATH=") != 1 || strings.Count(env, "HOME=") != 1 || !strings.Contains(env, "HOME=/home/app") {
		t.Errorf("the spec's variables must win:\n%s", env)
	}
}

func TestResolveCommand(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "bin")
	os.Mkdir(bin, 0o755)
	os.WriteFile(filepath.Join(bin, "tool"), []byte("#!/bin/sh\n"), 0o755)
	os.WriteFile(filepath.Join(bin, "data"), []byte("x"), 0o644)
	env := []string{"PATH=relative:" + bin}
	tests := []struct {
		name, cmd, want string
		err             error
	}{
		{"on PATH", "tool", filepath.Join(bin, "tool"), nil},
		{"not on PATH", "nope", "", ErrCommandNotFound},
		{"not executable is not found", "data", "", ErrCommandNotFound},
		{"absolute", filepath.Join(bin, "tool"), filepath.Join(bin, "tool"), nil},
		{"relative to workingDir", "bin/tool", filepath.Join(bin, "tool"), nil},
		{"missing path", "/no/such", "", os.ErrNotExist},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := resolveCommand(tc.cmd, dir, env)
			if tc.err != nil {
				if !errors.Is(err, tc.err) {
					t.Fatalf("error %v, want %v", err, tc.err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("got %q, %v; want %q", got, err, tc.want)
			}
		})
	}
}
