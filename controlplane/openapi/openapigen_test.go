package openapi_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	jsonpatch "gopkg.in/evanphx/json-patch.v4"
	"k8s.io/kube-openapi/pkg/common"

	"github.com/shoalmesh/shoal/controlplane/openapi"
	"github.com/shoalmesh/shoal/controlplane/registry"
)

var update = flag.Bool("update", false, "rewrite comments.json from openapi-gen's output")

// TestOpenAPIGen runs Kubernetes' generator, openapi-gen (the version
// go.mod's tool directive names), on the packages of every type Shoal
// serves, and checks that Definitions gives exactly its definitions: the
// reflected ones with comments.json applied. With -update it rewrites
// comments.json as the difference, after checking that the difference is
// only what comments carry (descriptions, enums, defaults, required
// fields, x-kubernetes-* markers): a difference in a type, a format or a
// reference is the reflection's bug, not a comment.
func TestOpenAPIGen(t *testing.T) {
	resources, err := registry.OpenAPIResources()
	if err != nil {
		t.Fatal(err)
	}
	reflected, types := openapi.Reflected(resources)
	theirs := runOpenAPIGen(t, types)

	if *update {
		writeComments(t, reflected, theirs)
	}
	ours, err := openapi.DefinitionsOf(resources)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range slices.Sorted(maps.Keys(ours)) {
		want, ok := theirs[name]
		if !ok {
			t.Errorf("%s: openapi-gen generated no definition", name)
			continue
		}
		if d := cmp.Diff(normalize(t, want), normalize(t, ours[name])); d != "" {
			t.Errorf("%s differs from openapi-gen's (-openapi-gen +ours):\n%s", name, d)
		}
	}
}

// runOpenAPIGen generates the definitions of the packages of types with
// openapi-gen in a scratch module that has Shoal's go.mod (so the same
// versions of k8s.io/api and of the generator), and returns them.
func runOpenAPIGen(t *testing.T, types map[string]reflect.Type) map[string]common.OpenAPIDefinition {
	t.Helper()
	gomod := goEnv(t, "GOMOD")
	dir := t.TempDir()
	mod, err := os.ReadFile(gomod)
	if err != nil {
		t.Fatal(err)
	}
	mod = regexp.MustCompile(`(?m)^module .*$`).ReplaceAll(mod, []byte("module oracle"))
	sum, err := os.ReadFile(filepath.Join(filepath.Dir(gomod), "go.sum"))
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dir, "go.mod"), mod)
	writeFile(t, filepath.Join(dir, "go.sum"), sum)
	writeFile(t, filepath.Join(dir, "header.txt"), nil)
	writeFile(t, filepath.Join(dir, "dump", "main.go"), []byte(dumpMain))

	pkgs := map[string]bool{}
	for _, typ := range types {
		pkgs[typ.PkgPath()] = true
	}
	args := append([]string{"tool", "openapi-gen", "--output-dir", "gen", "--output-pkg", "oracle/gen",
		"--output-file", "zz_generated.openapi.go", "--go-header-file", "header.txt", "--report-filename", os.DevNull},
		slices.Sorted(maps.Keys(pkgs))...)
	goRun(t, dir, args...)
	out := goRun(t, dir, "run", "./dump")
	var defs map[string]common.OpenAPIDefinition
	if err := json.Unmarshal(out, &defs); err != nil {
		t.Fatalf("openapi-gen's definitions: %v", err)
	}
	return defs
}

const dumpMain = `package main

import (
	"encoding/json"
	"os"

	"k8s.io/kube-openapi/pkg/validation/spec"
	"oracle/gen"
)

func main() {
	defs := gen.GetOpenAPIDefinitions(func(p string) spec.Ref { return spec.MustCreateRef("#/definitions/" + p) })
	if err := json.NewEncoder(os.Stdout).Encode(defs); err != nil {
		panic(err)
	}
}
`

func goEnv(t *testing.T, key string) string {
	out, err := exec.Command("go", "env", key).Output()
	if err != nil {
		t.Fatalf("go env %s: %v", key, err)
	}
	return strings.TrimSpace(string(out))
}

func goRun(t *testing.T, dir string, args ...string) []byte {
	t.Helper()
	cmd := exec.Command("go", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod", "GOWORK=off")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return out
}

func writeFile(t *testing.T, path string, b []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// normalize is a definition as JSON values, its dependencies sorted
// (openapi-gen sorts them by Go name, Definitions by model name).
func normalize(t *testing.T, d common.OpenAPIDefinition) any {
	slices.Sort(d.Dependencies)
	b, err := json.Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	return v
}

// commentKeys are what a comment may change in a schema; the others are
// walked into.
var (
	commentKeys = map[string]bool{"description": true, "enum": true, "default": true, "required": true}
	walkKeys    = map[string]bool{"properties": true, "items": true, "additionalProperties": true, "x-kubernetes-v2-schema": true}
)

// writeComments writes comments.json: per definition, the merge patch from
// the reflected schema to openapi-gen's.
func writeComments(t *testing.T, reflected map[string]common.OpenAPIDefinition, theirs map[string]common.OpenAPIDefinition) {
	t.Helper()
	patches := map[string]json.RawMessage{}
	for name, d := range reflected {
		want, ok := theirs[name]
		if !ok {
			continue
		}
		a, _ := json.Marshal(d.Schema)
		b, _ := json.Marshal(want.Schema)
		p, err := jsonpatch.CreateMergePatch(a, b)
		if err != nil {
			t.Fatal(err)
		}
		if string(p) == "{}" {
			continue
		}
		var v map[string]any
		if err := json.Unmarshal(p, &v); err != nil {
			t.Fatal(err)
		}
		if err := onlyComments(v, name); err != nil {
			t.Fatalf("reflection differs from openapi-gen beyond comments: %v", err)
		}
		patches[name] = p
	}
	b, err := json.MarshalIndent(patches, "", " ")
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, "comments.json", append(b, '\n'))
	t.Logf("wrote comments.json: %d definitions, %d bytes", len(patches), len(b))
	openapi.SetComments(append(b, '\n'))
}

// onlyComments checks that a merge patch changes only what comments say.
func onlyComments(patch map[string]any, path string) error {
	for k, v := range patch {
		switch {
		case strings.HasSuffix(path, "/properties") || walkKeys[k]:
			m, ok := v.(map[string]any)
			if !ok {
				return fmt.Errorf("%s/%s: %v", path, k, v)
			}
			if err := onlyComments(m, path+"/"+k); err != nil {
				return err
			}
		case commentKeys[k] || strings.HasPrefix(k, "x-kubernetes-"):
		default:
			return fmt.Errorf("%s: %s: %v", path, k, v)
		}
	}
	return nil
}
