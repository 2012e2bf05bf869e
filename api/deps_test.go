package api

import (
	"errors"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/shoalmesh/shoal"

// TestDependencyDirections keeps Shoal's import graph pointing one way.
// Test files are not counted: a test may start a whole cluster.
func TestDependencyDirections(t *testing.T) {
	imports := goListImports(t)
	var bad []string
	for _, rule := range []struct {
		// from may not depend on to, except for from's own packages;
		// both are trees under module, "" the whole module.
		from, to string
		why      string
	}{
		{"api", "", "api is the leaf every part shares"},
		{"proxy", "xds", "the proxy learns only over the wire"},
		{"proxy", "controlplane", "the proxy learns only over the wire"},
		{"dns", "controlplane/registry", "DNS reads the store, not the registry's rules"},
		{"dns", "xds", "DNS and xDS are independent readers of the store"},
		{"xds", "controlplane/controllers", "xDS uses the controller machinery, never a controller"},
		{"controlplane/scheduler", "controlplane/controllers", "the scheduler uses the controller machinery, never a controller"},
		{"controlplane/controller", "controlplane/controllers", "the machinery is below the controllers"},
		{"", "cmd", "nothing imports a command"},
	} {
		for p := range imports {
			if !under(p, rule.from) {
				continue
			}
			for d, chain := range depsOf(p, imports) {
				if under(d, rule.to) && (rule.from == "" || !under(d, rule.from)) {
					path := strings.Join(append([]string{p}, chain...), " → ")
					bad = append(bad, strings.ReplaceAll(path, module+"/", "")+": "+rule.why)
				}
			}
		}
	}
	slices.Sort(bad)
	for _, b := range bad {
		t.Error(b)
	}
}

// under reports whether package p is tree (a path under module) or in it.
func under(p, tree string) bool {
	root := module
	if tree != "" {
		root += "/" + tree
	}
	return p == root || strings.HasPrefix(p, root+"/")
}

// depsOf returns every module package p depends on, each with the chain of
// imports that leads to it.
func depsOf(p string, imports map[string][]string) map[string][]string {
	chains := map[string][]string{}
	queue := []string{p}
	for len(queue) > 0 {
		cur := queue[0]
		queue = queue[1:]
		for _, d := range imports[cur] {
			if _, seen := chains[d]; seen || d == p {
				continue
			}
			chains[d] = append(slices.Clone(chains[cur]), d)
			queue = append(queue, d)
		}
	}
	return chains
}

// goListImports returns each of the module's packages with the module's
// packages it imports.
func goListImports(t *testing.T) map[string][]string {
	t.Helper()
	cmd := exec.Command("go", "list", "-f", `{{.ImportPath}}{{range .Imports}} {{.}}{{end}}`, module+"/...")
	out, err := cmd.Output()
	if err != nil {
		if ee := (*exec.ExitError)(nil); errors.As(err, &ee) {
			t.Fatalf("go list: %v: %s", err, ee.Stderr)
		}
		t.Fatalf("go list: %v", err)
	}
	imports := map[string][]string{}
	for line := range strings.Lines(string(out)) {
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		imports[f[0]] = slices.DeleteFunc(f[1:], func(p string) bool { return !under(p, "") })
	}
	if len(imports) < 10 {
		t.Fatalf("go list found %d packages in %s; want the whole module", len(imports), module)
	}
	return imports
}
