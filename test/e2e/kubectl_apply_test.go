package e2e

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// The OpenAPI schemas (kubectl explain, client-side validation) and
// server-side apply, with the real kubectl.

// kubectlVersions are the kubectl releases to run: the one on the PATH
// (a dispatcher that picks 1.33 for Shoal's /version) and, where the
// dispatcher's directory has it, 1.28, whose explain and validation read
// the same documents through older code.
func kubectlVersions(t *testing.T, k *kubectl) map[string]*kubectl {
	out := map[string]*kubectl{"path": k}
	real, err := filepath.EvalSymlinks(k.bin)
	if err != nil {
		t.Fatal(err)
	}
	if old := filepath.Join(filepath.Dir(real), "kubectl.1.28"); fileExists(old) {
		c := *k
		c.bin = old
		c.cacheDir = k.cacheDir + "-1.28"
		out["1.28"] = &c
	} else {
		t.Logf("no %s: kubectl 1.28 not run", old)
	}
	return out
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

func TestKubectlExplain(t *testing.T) {
	_, k := startKubectl(t)
	for name, k := range kubectlVersions(t, k) {
		t.Run(name, func(t *testing.T) {
			out, _ := k.ok(t, "explain", "pods.spec.containers.readinessProbe")
			for _, want := range []string{
				"KIND:       Pod", "FIELD: readinessProbe <Probe>",
				// Kubernetes' own descriptions, from k8s.io/api.
				"Periodic probe of container service readiness.",
				"Number of seconds after the container has started before liveness probes are",
				"httpGet\t<HTTPGetAction>",
			} {
				if !strings.Contains(out, want) {
					t.Errorf("explain pods.spec.containers.readinessProbe lacks %q:\n%s", want, out)
				}
			}
			out, _ = k.ok(t, "explain", "deployment", "--recursive")
			for _, want := range []string{
				"GROUP:      apps", "KIND:       Deployment",
				"Deployment enables declarative updates for Pods and ReplicaSets.",
				"  spec\t<DeploymentSpec>", "    replicas\t<integer>", "      maxSurge\t<IntOrString>",
				"    template\t<PodTemplateSpec> -required-", "          name\t<string> -required-",
			} {
				if !strings.Contains(out, want) {
					t.Errorf("explain deployment --recursive lacks %q:\n%s", want, out)
				}
			}
			out, _ = k.ok(t, "explain", "pod.spec.restartPolicy")
			if !strings.Contains(out, "Possible enum values:\n     - `\"Always\"`") {
				t.Errorf("explain pod.spec.restartPolicy lacks its enum values:\n%s", out)
			}
			k.ok(t, "explain", "hpa.spec.metrics", "--api-version", "autoscaling/v2")
			k.ok(t, "explain", "cronjobs.spec.jobTemplate.spec.template.spec.containers.env")
			k.ok(t, "explain", "endpointslices.endpoints.conditions")
			k.ok(t, "explain", "clusterrolebindings.subjects")
			out, _ = k.ok(t, "explain", "selfsubjectaccessreview.spec.resourceAttributes")
			if !strings.Contains(out, "ResourceAttributes includes the authorization") {
				t.Errorf("explain selfsubjectaccessreview.spec.resourceAttributes:\n%s", out)
			}
		})
	}
}

// An unknown field is found by kubectl itself, from the schema, before it
// sends anything: the error is kubectl's ValidationError, not the
// server's, and nothing is created.
func TestKubectlValidateStrict(t *testing.T) {
	_, k := startKubectl(t)
	bad := k.write(t, "bad.yaml", `apiVersion: apps/v1
kind: Deployment
metadata: {name: bad, namespace: default}
spec:
  selector: {matchLabels: {app: bad}}
  replicaz: 2
  template:
    metadata: {labels: {app: bad}}
    spec:
      containers: [{name: bad, command: [/bin/true], portz: []}]
`)
	for name, k := range kubectlVersions(t, k) {
		t.Run(name, func(t *testing.T) {
			for _, args := range [][]string{{"apply", "--validate=strict", "-f", bad}, {"apply", "--server-side", "--validate=strict", "-f", bad}, {"create", "-f", bad}} {
				stderr := k.fails(t, args...)
				for _, want := range []string{`error validating "` + bad + `"`, `unknown field "replicaz" in io.k8s.api.apps.v1.DeploymentSpec`,
					`unknown field "portz" in io.k8s.api.core.v1.Container`} {
					if !strings.Contains(stderr, want) {
						t.Errorf("kubectl %s: stderr lacks %q:\n%s", strings.Join(args, " "), want, stderr)
					}
				}
				if strings.Contains(stderr, "Error from server") {
					t.Errorf("kubectl %s: the server, not kubectl, refused it:\n%s", strings.Join(args, " "), stderr)
				}
			}
		})
	}
	if _, _, err := k.run(t, "get", "deploy", "bad"); err == nil {
		t.Error("the invalid deployment was created")
	}
	// A valid manifest with the fields a schema gets wrong most easily
	// (int-or-string, quantities, an optional field without omitempty):
	// both kubectls take it.
	good := k.write(t, "good.yaml", `apiVersion: apps/v1
kind: Deployment
metadata: {name: good, namespace: default}
spec:
  selector: {matchLabels: {app: good}}
  strategy: {rollingUpdate: {maxSurge: 1, maxUnavailable: "25%"}}
  template:
    metadata: {labels: {app: good}}
    spec:
      containers:
      - name: good
        command: [/bin/true]
        resources: {limits: {cpu: 1, memory: 64Mi}}
        readinessProbe: {grpc: {port: 9000}}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: aggregated}
aggregationRule:
  clusterRoleSelectors: [{matchLabels: {aggregate: "yes"}}]
`)
	for _, k := range kubectlVersions(t, k) {
		k.ok(t, "apply", "--validate=strict", "-f", good)
	}
}

// TestKubectlServerSideApply applies the README's manifest and one of every
// kind with --server-side, then goes through the SSA contract: a second
// manager's change of the same field is a conflict naming the owner,
// --force-conflicts takes the field, a field removed from a manifest is
// removed from the object, and client-side and server-side apply take over
// from each other.
func TestKubectlServerSideApply(t *testing.T) {
	s, k := startKubectl(t)
	cs := s.Clientset(t)
	readme := k.write(t, "app.yaml", readmeBlock(t, "where `app.yaml` is any ordinary manifest", "yaml"))
	every, err := filepath.Abs("testdata/every-kind.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range []string{readme, every} {
		out, _ := k.ok(t, "apply", "--server-side", "-f", m)
		if strings.Count(out, "serverside-applied") != strings.Count(readFile(t, m), "\nkind: ") {
			t.Errorf("apply --server-side -f %s:\n%s", m, out)
		}
		// Applying again changes nothing.
		out, _ = k.ok(t, "apply", "--server-side", "-f", m)
		if !strings.Contains(out, "serverside-applied") {
			t.Errorf("second apply --server-side -f %s:\n%s", m, out)
		}
	}

	// managedFields are kept, and kubectl hides them unless asked.
	out, _ := k.ok(t, "get", "deploy", "web", "-n", "shop", "-o", "yaml")
	if strings.Contains(out, "managedFields") {
		t.Errorf("get -o yaml shows managedFields:\n%s", out)
	}
	out, _ = k.ok(t, "get", "deploy", "web", "-n", "shop", "-o", "yaml", "--show-managed-fields")
	for _, want := range []string{"managedFields:", "manager: kubectl\n    operation: Apply", "f:replicas: {}"} {
		if !strings.Contains(out, want) {
			t.Errorf("get --show-managed-fields lacks %q:\n%s", want, out)
		}
	}

	// A second manager setting the same field to another value conflicts.
	deploy := readmeDeployment(t, readme)
	other := k.write(t, "other.yaml", strings.Replace(deploy, "replicas: 3", "replicas: 2", 1))
	stderr := k.fails(t, "apply", "--server-side", "--field-manager=autoscaler", "-f", other)
	if !strings.Contains(stderr, `Apply failed with 1 conflict: conflict with "kubectl": .spec.replicas`) {
		t.Errorf("conflicting apply: %s", stderr)
	}
	if d := getDeployment(t, cs, "shop", "web"); *d.Spec.Replicas != 3 {
		t.Errorf("replicas = %d after a refused apply, want 3", *d.Spec.Replicas)
	}
	// --force-conflicts takes it over.
	k.ok(t, "apply", "--server-side", "--field-manager=autoscaler", "--force-conflicts", "-f", other)
	d := getDeployment(t, cs, "shop", "web")
	if *d.Spec.Replicas != 2 || ownerOf(d.ManagedFields, "f:replicas") != "autoscaler" {
		t.Errorf("after --force-conflicts: replicas %d owned by %q, want 2 by autoscaler", *d.Spec.Replicas, ownerOf(d.ManagedFields, "f:replicas"))
	}
	// kubectl, no longer the owner, applies without replicas and keeps
	// the rest; a label it removes is removed.
	labelled := strings.Replace(strings.Replace(deploy, "  replicas: 3\n", "", 1), "metadata: {name: web, namespace: shop}", "metadata: {name: web, namespace: shop, labels: {tier: front}}", 1)
	k.ok(t, "apply", "--server-side", "-f", k.write(t, "labelled.yaml", labelled))
	if d := getDeployment(t, cs, "shop", "web"); d.Labels["tier"] != "front" || *d.Spec.Replicas != 2 {
		t.Errorf("labels %v, replicas %d; want tier=front and 2", d.Labels, *d.Spec.Replicas)
	}
	k.ok(t, "apply", "--server-side", "-f", k.write(t, "unlabelled.yaml", strings.Replace(deploy, "  replicas: 3\n", "", 1)))
	if d := getDeployment(t, cs, "shop", "web"); d.Labels["tier"] != "" {
		t.Errorf("label tier still there after it left the manifest: %v", d.Labels)
	}
	// The same for a list item: an env var that leaves the manifest
	// leaves the object.
	withEnv := withContainerEnv(t, strings.Replace(deploy, "  replicas: 3\n", "", 1), "[{name: A, value: '1'}, {name: B, value: '2'}]")
	k.ok(t, "apply", "--server-side", "-f", k.write(t, "env2.yaml", withEnv))
	k.ok(t, "apply", "--server-side", "-f", k.write(t, "env1.yaml", strings.Replace(withEnv, ", {name: B, value: '2'}", "", 1)))
	if env := getDeployment(t, cs, "shop", "web").Spec.Template.Spec.Containers[0].Env; len(env) != 1 || env[0].Name != "A" {
		t.Errorf("env after B left the manifest: %v", env)
	}

	// Client-side apply after server-side apply, and back.
	cm := "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: mixed, namespace: shop}\ndata: {a: '1', b: '2'}\n"
	k.ok(t, "apply", "--server-side", "-f", k.write(t, "cm1.yaml", cm))
	k.ok(t, "apply", "-f", k.write(t, "cm2.yaml", strings.Replace(cm, "b: '2'", "b: '3'", 1)))
	k.ok(t, "apply", "-f", k.write(t, "cm3.yaml", strings.Replace(cm, ", b: '2'", "", 1)))
	got, _ := k.ok(t, "get", "cm", "mixed", "-n", "shop", "-o", "jsonpath={.data}")
	if got != `{"a":"1"}` {
		t.Errorf("configmap after client-side applies: %s", got)
	}
	out, _ = k.ok(t, "get", "cm", "mixed", "-n", "shop", "-o", "yaml", "--show-managed-fields")
	for _, want := range []string{"manager: kubectl-client-side-apply\n    operation: Update", "manager: kubectl\n    operation: Apply"} {
		if !strings.Contains(out, want) {
			t.Errorf("configmap managedFields after client-side apply lack %q:\n%s", want, out)
		}
	}
	k.ok(t, "apply", "--server-side", "--force-conflicts", "-f", k.write(t, "cm4.yaml", strings.Replace(cm, "a: '1'", "a: '4'", 1)))
	got, _ = k.ok(t, "get", "cm", "mixed", "-n", "shop", "-o", "jsonpath={.data}")
	if got != `{"a":"4","b":"2"}` {
		t.Errorf("configmap after server-side apply over client-side: %s", got)
	}

	// Client-side apply of a new object: created under kubectl's
	// client-side manager, with its last-applied annotation.
	k.ok(t, "apply", "-f", k.write(t, "csa.yaml", strings.Replace(cm, "name: mixed", "name: csa", 1)))
	out, _ = k.ok(t, "get", "cm", "csa", "-n", "shop", "-o", "yaml", "--show-managed-fields")
	for _, want := range []string{"manager: kubectl-client-side-apply\n    operation: Update", "kubectl.kubernetes.io/last-applied-configuration"} {
		if !strings.Contains(out, want) {
			t.Errorf("configmap created by client-side apply lacks %q:\n%s", want, out)
		}
	}

	// A status subresource apply.
	k.ok(t, "apply", "--server-side", "--subresource=status", "--field-manager=prober", "-f",
		k.write(t, "status.yaml", "apiVersion: v1\nkind: Service\nmetadata: {name: web, namespace: shop}\nstatus: {loadBalancer: {ingress: [{ip: 127.0.0.9}]}}\n"))
	svc := getService(t, cs, "shop", "web")
	if len(svc.Status.LoadBalancer.Ingress) != 1 || svc.Status.LoadBalancer.Ingress[0].IP != "127.0.0.9" {
		t.Errorf("service status after a status apply: %+v", svc.Status)
	}
}

// readmeDeployment is the Deployment document of the README's manifest.
func readmeDeployment(t *testing.T, path string) string {
	t.Helper()
	for _, doc := range strings.Split(readFile(t, path), "---\n") {
		if strings.Contains(doc, "kind: Deployment") {
			return doc
		}
	}
	t.Fatal("the README's manifest has no Deployment")
	return ""
}

// withContainerEnv adds env to the first container of a Deployment
// manifest, after its ports line (the README's manifest is flow-style YAML).
func withContainerEnv(t *testing.T, deploy, env string) string {
	t.Helper()
	lines := strings.Split(deploy, "\n")
	for i, l := range lines {
		if trimmed := strings.TrimLeft(l, " "); strings.HasPrefix(trimmed, "ports:") && strings.Contains(l, "containerPort") {
			indent := l[:len(l)-len(trimmed)]
			return strings.Join(slices.Insert(lines, i+1, indent+"env: "+env), "\n")
		}
	}
	t.Fatalf("the README's Deployment has no container ports line:\n%s", deploy)
	return ""
}

// ownerOf is the manager whose managedFields entry names field.
func ownerOf(entries []metav1.ManagedFieldsEntry, field string) string {
	for _, e := range entries {
		if e.FieldsV1 != nil && strings.Contains(string(e.FieldsV1.Raw), `"`+field+`"`) {
			return e.Manager
		}
	}
	return ""
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
