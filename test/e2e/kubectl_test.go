package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/util/retry"

	"github.com/shoalmesh/shoal/cluster/clustertest"
	"github.com/shoalmesh/shoal/internal/testenv"
)

// kubectlTimeout bounds every kubectl run; kubectlWatchTimeout the background watch.
const (
	kubectlTimeout      = 30 * time.Second
	kubectlWatchTimeout = 30 * time.Second
)

// appYAML is what a user applies: a namespace, a Service whose named port
// targets the pods' named port, and a Deployment.
func appYAML(replicas int, deployLabels string) string {
	return fmt.Sprintf(`apiVersion: v1
kind: Namespace
metadata:
  name: x
---
apiVersion: v1
kind: Service
metadata:
  name: web
  namespace: x
  labels: {app: web}
spec:
  selector: {app: web}
  ports:
  - name: http
    port: 80
    targetPort: http
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: x
  labels: {%s}
spec:
  replicas: %d
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: web
        image: nginx:1.27
        ports:
        - name: http
          containerPort: 8080
`, deployLabels, replicas)
}

// extraYAML adds one object of each kind the Get and Describe tests list
// that are not (yet) made by a controller for appYAML. They are made so that
// no controller would touch them either: a ReplicaSet of zero replicas, a
// Pod no ReplicaSet selects, and a Service without a selector whose
// EndpointSlice the user manages.
const extraYAML = `apiVersion: apps/v1
kind: ReplicaSet
metadata:
  name: batch
  namespace: x
  labels: {app: batch}
spec:
  replicas: 0
  selector:
    matchLabels: {app: batch}
  template:
    metadata:
      labels: {app: batch}
    spec:
      containers:
      - name: batch
        image: busybox:1.36
---
apiVersion: v1
kind: Pod
metadata:
  name: lone
  namespace: x
  labels: {app: lone}
spec:
  containers:
  - name: lone
    image: nginx:1.27
---
apiVersion: v1
kind: Service
metadata:
  name: db
  namespace: x
spec:
  ports:
  - name: pg
    port: 5432
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: db-1
  namespace: x
  labels:
    kubernetes.io/service-name: db
addressType: IPv4
ports:
- name: pg
  port: 5432
  protocol: TCP
endpoints:
- addresses: ["10.244.0.5"]
  conditions: {ready: true}
`

func TestKubectlApply(t *testing.T) {
	t.Parallel()
	s, k := startKubectl(t)
	cs := s.Clientset(t)

	out, stderr := k.ok(t, "apply", "-f", k.write(t, "app.yaml", appYAML(3, "app: web")))
	wantKubectlLines(t, out, "namespace/x created", "service/web created", "deployment.apps/web created")
	if strings.Contains(stderr, "Warning: spec.template.spec.containers[0].image") {
		t.Errorf("apply warns about the image, which the node agent pulls:\n%s", stderr)
	}
	svc := getService(t, cs, "x", "web")
	if ip, err := netip.ParseAddr(svc.Spec.ClusterIP); err != nil || !netip.MustParsePrefix("10.96.0.0/16").Contains(ip) {
		t.Errorf("service clusterIP = %q, want an address in 10.96.0.0/16", svc.Spec.ClusterIP)
	}
	if p := svc.Spec.Ports; len(p) != 1 || p[0].Name != "http" || p[0].Port != 80 || p[0].TargetPort != intstr.FromString("http") {
		t.Errorf("service ports = %+v, want http 80 -> http", p)
	}
	d := getDeployment(t, cs, "x", "web")
	if *d.Spec.Replicas != 3 {
		t.Errorf("deployment replicas = %d, want 3", *d.Spec.Replicas)
	}

	out, _ = k.ok(t, "apply", "-f", k.write(t, "app.yaml", appYAML(3, "app: web")))
	wantKubectlLines(t, out, "namespace/x unchanged", "service/web unchanged", "deployment.apps/web unchanged")

	out, _ = k.ok(t, "apply", "-f", k.write(t, "app.yaml", appYAML(4, "app: web, track: canary")))
	wantKubectlLines(t, out, "namespace/x unchanged", "service/web unchanged", "deployment.apps/web configured")
	d2 := getDeployment(t, cs, "x", "web")
	if *d2.Spec.Replicas != 4 || d2.Labels["track"] != "canary" || d2.Labels["app"] != "web" {
		t.Errorf("after apply: replicas %d labels %v, want 4 and app=web,track=canary", *d2.Spec.Replicas, d2.Labels)
	}
	if d2.Generation <= d.Generation {
		t.Errorf("generation %d after a spec change, was %d", d2.Generation, d.Generation)
	}
	if got := getService(t, cs, "x", "web").Spec.ClusterIP; got != svc.Spec.ClusterIP {
		t.Errorf("re-apply changed the clusterIP from %s to %s", svc.Spec.ClusterIP, got)
	}
}

func TestKubectlGet(t *testing.T) {
	t.Parallel()
	s, k := startKubectl(t)
	k.ok(t, "apply", "-f", k.write(t, "app.yaml", appYAML(3, "app: web")))
	k.ok(t, "apply", "-f", k.write(t, "extra.yaml", extraYAML))
	ip := getService(t, s.Clientset(t), "x", "web").Spec.ClusterIP

	t.Run("wide", func(t *testing.T) {
		out, _ := k.ok(t, "get", "svc,deploy,rs,po,endpointslices", "-o", "wide", "-n", "x")
		tables := parseKubectlTables(out)
		if len(tables) != 5 {
			t.Fatalf("got %d tables, want 5:\n%s", len(tables), out)
		}
		tests := []struct {
			table  int
			header string
			row    string
			want   map[string]string
		}{
			{0, "NAME TYPE CLUSTER-IP EXTERNAL-IP PORT(S) AGE SELECTOR", "service/web",
				map[string]string{"TYPE": "ClusterIP", "CLUSTER-IP": ip, "EXTERNAL-IP": "<none>", "PORT(S)": "80/TCP", "SELECTOR": "app=web"}},
			{0, "NAME TYPE CLUSTER-IP EXTERNAL-IP PORT(S) AGE SELECTOR", "service/db",
				map[string]string{"TYPE": "ClusterIP", "PORT(S)": "5432/TCP", "SELECTOR": "<none>"}},
			// The replica counts are left out: they are a controller's to set.
			{1, "NAME READY UP-TO-DATE AVAILABLE AGE CONTAINERS IMAGES SELECTOR", "deployment.apps/web",
				map[string]string{"CONTAINERS": "web", "IMAGES": "nginx:1.27", "SELECTOR": "app=web"}},
			{2, "NAME DESIRED CURRENT READY AGE CONTAINERS IMAGES SELECTOR", "replicaset.apps/batch",
				map[string]string{"DESIRED": "0", "CURRENT": "0", "READY": "0", "CONTAINERS": "batch", "IMAGES": "busybox:1.36", "SELECTOR": "app=batch"}},
			{3, "NAME READY STATUS RESTARTS AGE IP NODE NOMINATED NODE READINESS GATES", "pod/lone",
				map[string]string{"READY": "0/1", "STATUS": "Pending", "RESTARTS": "0", "IP": "<none>", "NODE": "<none>"}},
			{4, "NAME ADDRESSTYPE PORTS ENDPOINTS AGE", "endpointslice.discovery.k8s.io/db-1",
				map[string]string{"ADDRESSTYPE": "IPv4", "PORTS": "5432", "ENDPOINTS": "10.244.0.5"}},
		}
		for _, tt := range tests {
			tables[tt.table].check(t, tt.header, tt.row, tt.want)
		}
		if ready := tables[1].cell("deployment.apps/web", "READY"); !strings.HasSuffix(ready, "/3") {
			t.Errorf("deployment READY = %q, want n/3", ready)
		}
	})

	t.Run("all namespaces", func(t *testing.T) {
		out, _ := k.ok(t, "get", "svc", "-A")
		tables := parseKubectlTables(out)
		if len(tables) != 1 {
			t.Fatalf("got %d tables, want 1:\n%s", len(tables), out)
		}
		tb := tables[0]
		tb.check(t, "NAMESPACE NAME TYPE CLUSTER-IP EXTERNAL-IP PORT(S) AGE", "kubernetes",
			map[string]string{"NAMESPACE": "default", "CLUSTER-IP": "10.96.0.1", "PORT(S)": "443/TCP"})
		tb.check(t, "NAMESPACE NAME TYPE CLUSTER-IP EXTERNAL-IP PORT(S) AGE", "web",
			map[string]string{"NAMESPACE": "x", "CLUSTER-IP": ip})

		out, _ = k.ok(t, "get", "po,endpointslices", "-A")
		tables = parseKubectlTables(out)
		if len(tables) != 2 {
			t.Fatalf("got %d tables, want 2:\n%s", len(tables), out)
		}
		tables[0].check(t, "NAMESPACE NAME READY STATUS RESTARTS AGE", "pod/lone", map[string]string{"NAMESPACE": "x"})
		tables[1].check(t, "NAMESPACE NAME ADDRESSTYPE PORTS ENDPOINTS AGE", "endpointslice.discovery.k8s.io/db-1", map[string]string{"NAMESPACE": "x"})
	})

	t.Run("show labels", func(t *testing.T) {
		out, _ := k.ok(t, "get", "svc,deploy", "-n", "x", "--show-labels")
		tables := parseKubectlTables(out)
		if len(tables) != 2 {
			t.Fatalf("got %d tables, want 2:\n%s", len(tables), out)
		}
		tables[0].check(t, "NAME TYPE CLUSTER-IP EXTERNAL-IP PORT(S) AGE LABELS", "service/web", map[string]string{"LABELS": "app=web"})
		tables[1].check(t, "NAME READY UP-TO-DATE AVAILABLE AGE LABELS", "deployment.apps/web", map[string]string{"LABELS": "app=web"})

		out, _ = k.ok(t, "get", "ns", "x", "--show-labels")
		parseKubectlTables(out)[0].check(t, "NAME STATUS AGE LABELS", "x",
			map[string]string{"STATUS": "Active", "LABELS": "kubernetes.io/metadata.name=x"})
	})

	t.Run("watch", func(t *testing.T) {
		w := k.watch(t, "get", "svc", "web", "-n", "x", "-w", "--show-labels")
		if h := strings.Fields(w.next(t)); !slices.Equal(h, strings.Fields("NAME TYPE CLUSTER-IP EXTERNAL-IP PORT(S) AGE LABELS")) {
			t.Fatalf("watch header = %q", h)
		}
		if row := strings.Fields(w.next(t)); row[0] != "web" || row[len(row)-1] != "app=web" {
			t.Fatalf("watch first row = %q, want web ... app=web", row)
		}

		k.ok(t, "label", "svc", "web", "-n", "x", "tier=watched")
		row := strings.Fields(w.next(t))
		if row[0] != "web" || row[len(row)-1] != "app=web,tier=watched" {
			t.Fatalf("watch row after label = %q, want web ... app=web,tier=watched", row)
		}

		k.ok(t, "patch", "svc", "web", "-n", "x", "--type=json", "-p", `[{"op":"replace","path":"/spec/ports/0/port","value":8080}]`)
		row = strings.Fields(w.next(t))
		if row[0] != "web" || !slices.Contains(row, "8080/TCP") {
			t.Fatalf("watch row after the port change = %q, want web ... 8080/TCP", row)
		}
	})
}

func TestKubectlDescribe(t *testing.T) {
	t.Parallel()
	s, k := startKubectl(t)
	k.ok(t, "apply", "-f", k.write(t, "app.yaml", appYAML(3, "app: web")))
	k.ok(t, "apply", "-f", k.write(t, "extra.yaml", extraYAML))
	ip := getService(t, s.Clientset(t), "x", "web").Spec.ClusterIP
	node := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: "node-1", Labels: map[string]string{"kubernetes.io/hostname": "node-1"}},
		Status:     corev1.NodeStatus{Addresses: []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: "10.0.0.11"}}},
	}
	if _, err := s.Clientset(t).CoreV1().Nodes().Create(t.Context(), node, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create node: %v", err)
	}

	tests := []struct {
		args []string
		name string
		want []string // regexps each matching a line
	}{
		{[]string{"svc", "web", "-n", "x"}, "web", []string{`^IP:\s+` + regexp.QuoteMeta(ip) + `$`, `^Port:\s+http\s+80/TCP$`, `^TargetPort:\s+http/TCP$`}},
		{[]string{"svc", "db", "-n", "x"}, "db", []string{`^Selector:\s+<none>$`, `^Endpoints:\s+10\.244\.0\.5:5432$`}},
		{[]string{"deploy", "web", "-n", "x"}, "web", []string{`^Replicas:\s+3 desired`, `^Selector:\s+app=web$`}},
		{[]string{"pod", "lone", "-n", "x"}, "lone", []string{`^Status:\s+Pending$`}},
		{[]string{"ns", "x"}, "x", []string{`^Status:\s+Active$`}},
		{[]string{"endpointslice", "db-1", "-n", "x"}, "db-1", []string{`^AddressType:\s+IPv4$`, `^\s+- Addresses:\s+10\.244\.0\.5$`}},
		{[]string{"rs", "batch", "-n", "x"}, "batch", []string{`^Replicas:\s+0 current / 0 desired$`}},
		{[]string{"node", "node-1"}, "node-1", []string{`^\s+InternalIP:\s+10\.0\.0\.11$`}},
	}
	for _, tt := range tests {
		t.Run(tt.args[0]+"/"+tt.name, func(t *testing.T) {
			out, _ := k.ok(t, append([]string{"describe"}, tt.args...)...)
			for _, re := range append([]string{`^Name:\s+` + regexp.QuoteMeta(tt.name) + `$`}, tt.want...) {
				if !regexp.MustCompile("(?m)" + re).MatchString(out) {
					t.Errorf("describe %s: no line matches %s in:\n%s", strings.Join(tt.args, " "), re, out)
				}
			}
		})
	}
}

func TestKubectlScaleLabelAnnotate(t *testing.T) {
	t.Parallel()
	s, k := startKubectl(t)
	cs := s.Clientset(t)
	k.ok(t, "apply", "-f", k.write(t, "app.yaml", appYAML(3, "app: web")))
	k.ok(t, "apply", "-f", k.write(t, "extra.yaml", extraYAML))

	t.Run("scale", func(t *testing.T) {
		before := getDeployment(t, cs, "x", "web")
		out, _ := k.ok(t, "scale", "deploy", "web", "-n", "x", "--replicas", "2")
		wantKubectlLines(t, out, "deployment.apps/web scaled")
		after := getDeployment(t, cs, "x", "web")
		if *after.Spec.Replicas != 2 {
			t.Errorf("replicas = %d after scale, want 2", *after.Spec.Replicas)
		}
		if after.Generation <= before.Generation {
			t.Errorf("generation = %d after scale, was %d", after.Generation, before.Generation)
		}
	})

	t.Run("label and annotate", func(t *testing.T) {
		out, _ := k.ok(t, "label", "svc", "web", "-n", "x", "tier=back")
		wantKubectlLines(t, out, "service/web labeled")
		if stderr := k.fails(t, "label", "svc", "web", "-n", "x", "tier=front"); !strings.Contains(stderr, "'tier' already has a value (back), and --overwrite is false") {
			t.Errorf("label without --overwrite: %s", stderr)
		}
		out, _ = k.ok(t, "label", "svc", "web", "-n", "x", "tier=front", "--overwrite")
		wantKubectlLines(t, out, "service/web labeled")
		out, _ = k.ok(t, "annotate", "svc", "web", "-n", "x", "owner=team-a")
		wantKubectlLines(t, out, "service/web annotated")

		svc := getService(t, cs, "x", "web")
		if svc.Labels["tier"] != "front" || svc.Labels["app"] != "web" || svc.Annotations["owner"] != "team-a" {
			t.Errorf("service labels %v annotations %v, want tier=front,app=web and owner=team-a", svc.Labels, svc.Annotations)
		}

		out, _ = k.ok(t, "get", "svc", "-A", "-l", "tier=front", "-o", "name")
		wantKubectlLines(t, out, "service/web")
		out, stderr := k.ok(t, "get", "svc", "-n", "x", "-l", "tier=back")
		if out != "" || !strings.Contains(stderr, "No resources found in x namespace.") {
			t.Errorf("get -l tier=back: stdout %q stderr %q, want nothing found", out, stderr)
		}
	})

	t.Run("field selector", func(t *testing.T) {
		// Its own namespace, so that no pod a controller makes for x shows up.
		ctx := t.Context()
		ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "jobs"}}
		if _, err := cs.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{}); err != nil {
			t.Fatalf("create namespace: %v", err)
		}
		for _, name := range []string{"waiting", "running"} {
			pod := &corev1.Pod{
				ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "jobs"},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "job", Image: "busybox:1.36"}}},
			}
			if _, err := cs.CoreV1().Pods("jobs").Create(ctx, pod, metav1.CreateOptions{}); err != nil {
				t.Fatalf("create pod: %v", err)
			}
			if name == "running" {
				// The scheduler writes the pending pod's status too (no node
				// fits it): read, change, write until the write is on the
				// latest version.
				err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
					p, err := cs.CoreV1().Pods("jobs").Get(ctx, name, metav1.GetOptions{})
					if err != nil {
						return err
					}
					p.Status.Phase = corev1.PodRunning
					_, err = cs.CoreV1().Pods("jobs").UpdateStatus(ctx, p, metav1.UpdateOptions{})
					return err
				})
				if err != nil {
					t.Fatalf("set pod running: %v", err)
				}
			}
		}
		tests := []struct {
			selector string
			want     []string
		}{
			{"status.phase=Pending", []string{"pod/waiting"}},
			{"status.phase=Running", []string{"pod/running"}},
			{"status.phase!=Pending", []string{"pod/running"}},
			{"metadata.name=waiting", []string{"pod/waiting"}},
		}
		for _, tt := range tests {
			out, _ := k.ok(t, "get", "pods", "-n", "jobs", "--field-selector", tt.selector, "-o", "name")
			wantKubectlLines(t, out, tt.want...)
		}
		stderr := k.fails(t, "get", "pods", "-n", "jobs", "--field-selector", "spec.foo=bar")
		if !strings.Contains(stderr, "field label not supported: spec.foo") {
			t.Errorf("unsupported field selector: %s", stderr)
		}
	})
}

func TestKubectlDelete(t *testing.T) {
	t.Parallel()
	s, k := startKubectl(t)
	cs := s.Clientset(t)
	k.ok(t, "apply", "-f", k.write(t, "app.yaml", appYAML(3, "app: web")))
	k.ok(t, "apply", "-f", k.write(t, "extra.yaml", extraYAML))
	ip := getService(t, cs, "x", "web").Spec.ClusterIP

	out, _ := k.ok(t, "delete", "svc", "web", "-n", "x")
	wantKubectlLines(t, out, `service "web" deleted`)
	if _, err := cs.CoreV1().Services("x").Get(t.Context(), "web", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("get deleted service: err = %v, want NotFound", err)
	}
	reuse := fmt.Sprintf(`apiVersion: v1
kind: Service
metadata: {name: again, namespace: x}
spec:
  clusterIP: %s
  ports: [{port: 80}]
`, ip)
	out, _ = k.ok(t, "apply", "-f", k.write(t, "again.yaml", reuse))
	wantKubectlLines(t, out, "service/again created")
	if got := getService(t, cs, "x", "again").Spec.ClusterIP; got != ip {
		t.Fatalf("service again has clusterIP %s, want the freed %s", got, ip)
	}

	ctx := t.Context()
	md, err := metadata.NewForConfig(s.RESTConfig(t))
	if err != nil {
		t.Fatal(err)
	}
	inX := func(r schema.GroupVersionResource) int {
		t.Helper()
		l, err := md.Resource(r).Namespace("x").List(ctx, metav1.ListOptions{})
		if err != nil {
			t.Fatalf("list %s in x: %v", r.Resource, err)
		}
		return len(l.Items)
	}
	kinds := []schema.GroupVersionResource{
		{Version: "v1", Resource: "services"},
		{Version: "v1", Resource: "pods"},
		{Group: "apps", Version: "v1", Resource: "deployments"},
		{Group: "apps", Version: "v1", Resource: "replicasets"},
		{Group: "discovery.k8s.io", Version: "v1", Resource: "endpointslices"},
	}
	for _, r := range kinds {
		if inX(r) == 0 {
			t.Fatalf("no %s in x before deleting it", r.Resource)
		}
	}

	// kubectl waits until the namespace is gone, so everything is checked at once.
	out, _ = k.ok(t, "delete", "ns", "x")
	wantKubectlLines(t, out, `namespace "x" deleted`)
	if _, err := cs.CoreV1().Namespaces().Get(ctx, "x", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("get deleted namespace: err = %v, want NotFound", err)
	}
	for _, r := range kinds {
		if n := inX(r); n != 0 {
			t.Errorf("%d %s left in deleted namespace x", n, r.Resource)
		}
	}
	// The namespace's services released their addresses.
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "again", Namespace: "default"},
		Spec:       corev1.ServiceSpec{ClusterIP: ip, Ports: []corev1.ServicePort{{Port: 80}}},
	}
	if _, err := cs.CoreV1().Services("default").Create(ctx, svc, metav1.CreateOptions{}); err != nil {
		t.Errorf("reuse %s after deleting namespace x: %v", ip, err)
	}
}

func TestKubectlRejectsBadInput(t *testing.T) {
	t.Parallel()
	s, k := startKubectl(t)
	cs := s.Clientset(t)
	k.ok(t, "create", "namespace", "x")

	svc := func(name, spec string) string {
		return fmt.Sprintf("apiVersion: v1\nkind: Service\nmetadata:\n  name: %s\n  namespace: x\nspec:\n%s", name, spec)
	}
	tests := []struct {
		name     string
		manifest string
		want     []string
	}{
		// kubectl finds it in the OpenAPI schema, before the server.
		{"unknown field", svc("bad", "  foo: bar\n  ports:\n  - port: 80\n"),
			[]string{`unknown field "foo" in io.k8s.api.core.v1.ServiceSpec`}},
		{"invalid name", svc("Bad_Name", "  ports:\n  - port: 80\n"),
			[]string{`metadata.name: Invalid value: "Bad_Name"`}},
		{"port out of range", svc("bad", "  ports:\n  - port: 70000\n"),
			[]string{"spec.ports[0].port: Invalid value: 70000", "between 1 and 65535"}},
		{"duplicate port names", svc("bad", "  ports:\n  - {name: a, port: 80}\n  - {name: a, port: 81}\n"),
			[]string{`spec.ports[1].name: Duplicate value: "a"`}},
		{"cluster IP taken", svc("bad", "  clusterIP: 10.96.0.1\n  ports:\n  - port: 80\n"),
			[]string{`spec.clusterIP: Invalid value: "10.96.0.1"`, "already allocated"}},
		{"malformed YAML", svc("bad", "  ports: [\n  - port: 80\n"),
			[]string{"error converting YAML to JSON"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := k.write(t, "bad.yaml", tt.manifest)
			out, stderr, err := k.run(t, "apply", "-f", path)
			if err == nil {
				t.Fatalf("apply succeeded: %s", out)
			}
			for _, w := range tt.want {
				if !strings.Contains(stderr, w) {
					t.Errorf("error does not contain %q:\n%s", w, stderr)
				}
			}
			if strings.Contains(out, "created") {
				t.Errorf("apply printed %q", out)
			}
			l, err := cs.CoreV1().Services("x").List(t.Context(), metav1.ListOptions{})
			if err != nil || len(l.Items) != 0 {
				t.Fatalf("services in x after a rejected apply: %v (err %v), want none", serviceNames(l), err)
			}
		})
	}
	if got := getService(t, cs, "default", "kubernetes").Spec.ClusterIP; got != "10.96.0.1" {
		t.Errorf("kubernetes service clusterIP = %s, want 10.96.0.1", got)
	}
}

func TestKubectlTokens(t *testing.T) {
	t.Parallel()
	s, k := startKubectl(t)
	cs := s.Clientset(t)
	viewer := k.withToken(readToken(t, filepath.Join(s.DataDir, "tokens.csv"), "viewer"))
	stranger := k.withToken("not-a-token")
	svcFile := k.write(t, "svc.yaml", "apiVersion: v1\nkind: Service\nmetadata:\n  name: mine\n  namespace: default\nspec:\n  ports:\n  - port: 80\n")

	out, _ := viewer.ok(t, "get", "svc", "-n", "default")
	parseKubectlTables(out)[0].check(t, "NAME TYPE CLUSTER-IP EXTERNAL-IP PORT(S) AGE", "kubernetes", map[string]string{"CLUSTER-IP": "10.96.0.1"})

	tests := []struct {
		name string
		k    *kubectl
		args []string
		want string
	}{
		{"viewer create", viewer, []string{"create", "namespace", "y"},
			`Error from server (Forbidden): namespaces is forbidden: User "viewer" cannot create resource "namespaces"`},
		{"viewer apply", viewer, []string{"apply", "-f", svcFile},
			`services is forbidden: User "viewer" cannot create resource "services"`},
		{"viewer delete", viewer, []string{"delete", "svc", "kubernetes", "-n", "default"},
			`Error from server (Forbidden): services "kubernetes" is forbidden: User "viewer" cannot delete resource "services"`},
		{"wrong token get", stranger, []string{"get", "svc"}, "Unauthorized"},
		{"wrong token create", stranger, []string{"create", "namespace", "y"}, "Unauthorized"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if stderr := tt.k.fails(t, tt.args...); !strings.Contains(stderr, tt.want) {
				t.Errorf("stderr does not contain %q:\n%s", tt.want, stderr)
			}
		})
	}
	if _, err := cs.CoreV1().Namespaces().Get(t.Context(), "y", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("namespace y: err = %v, want NotFound", err)
	}
	if _, err := cs.CoreV1().Services("default").Get(t.Context(), "mine", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("service mine: err = %v, want NotFound", err)
	}
	getService(t, cs, "default", "kubernetes")
}

// kubectl runs the kubectl on the PATH against one Shoal.
type kubectl struct {
	bin        string
	kubeconfig string
	cacheDir   string
	dir        string // where manifests are written
	token      string // overrides the kubeconfig's when set
}

// startKubectl runs a Shoal for the test and a kubectl pointed at it, or
// skips the test when there is no kubectl (testenv.Kubectl). Each test gets
// its own Shoal, so the tests can run in parallel.
func startKubectl(t *testing.T) (*clustertest.Shoal, *kubectl) {
	t.Helper()
	bin := lookPath(t, testenv.Kubectl, "kubectl")
	s := clustertest.Start(t, clustertest.Options{})
	dir := t.TempDir()
	return s, &kubectl{bin: bin, kubeconfig: s.Kubeconfig, cacheDir: filepath.Join(dir, "cache"), dir: dir}
}

// lookPath is the path of program, which capability c provides: the test
// skips (or fails, where SHOAL_TEST_REQUIRE lists c) without it.
func lookPath(t *testing.T, c testenv.Capability, program string) string {
	t.Helper()
	testenv.Require(t, c)
	p, err := exec.LookPath(program)
	if err != nil {
		t.Fatalf("%s: %v", c, err)
	}
	return p
}

func (k *kubectl) withToken(token string) *kubectl {
	c := *k
	c.token = token
	return &c
}

func (k *kubectl) command(ctx context.Context, args []string) *exec.Cmd {
	a := []string{"--kubeconfig", k.kubeconfig, "--cache-dir", k.cacheDir}
	if k.token != "" {
		a = append(a, "--token", k.token)
	}
	cmd := exec.CommandContext(ctx, k.bin, append(a, args...)...)
	cmd.Env = append(os.Environ(), "KUBECONFIG=")
	cmd.WaitDelay = 2 * time.Second
	return cmd
}

// run runs kubectl with args and returns what it printed.
func (k *kubectl) run(t *testing.T, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), kubectlTimeout)
	defer cancel()
	cmd := k.command(ctx, args)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err = cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("kubectl %s: did not finish within %v", strings.Join(args, " "), kubectlTimeout)
	}
	return out.String(), errOut.String(), err
}

// ok runs kubectl and fails the test unless it succeeds.
func (k *kubectl) ok(t *testing.T, args ...string) (stdout, stderr string) {
	t.Helper()
	stdout, stderr, err := k.run(t, args...)
	if err != nil {
		t.Fatalf("kubectl %s: %v\n%s%s", strings.Join(args, " "), err, stdout, stderr)
	}
	return stdout, stderr
}

// fails runs kubectl, fails the test if it succeeds, and returns its stderr.
func (k *kubectl) fails(t *testing.T, args ...string) string {
	t.Helper()
	stdout, stderr, err := k.run(t, args...)
	var exit *exec.ExitError
	if !errors.As(err, &exit) {
		t.Fatalf("kubectl %s: err = %v, want a non-zero exit\n%s%s", strings.Join(args, " "), err, stdout, stderr)
	}
	return stderr
}

func (k *kubectl) write(t *testing.T, name, content string) string {
	t.Helper()
	path := filepath.Join(k.dir, name)
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// kubectlWatch is a kubectl running in the background whose stdout is read line
// by line.
type kubectlWatch struct {
	lines  chan string
	stderr *bytes.Buffer
	ctx    context.Context
}

func (k *kubectl) watch(t *testing.T, args ...string) *kubectlWatch {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), kubectlWatchTimeout)
	cmd := k.command(ctx, args)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	w := &kubectlWatch{lines: make(chan string), stderr: new(bytes.Buffer), ctx: ctx}
	cmd.Stderr = w.stderr
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatalf("start kubectl %s: %v", strings.Join(args, " "), err)
	}
	read := make(chan struct{})
	go func() {
		defer close(read)
		defer close(w.lines)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			select {
			case w.lines <- sc.Text():
			case <-ctx.Done():
				return
			}
		}
	}()
	t.Cleanup(func() {
		cancel()
		<-read
		cmd.Wait()
	})
	return w
}

// next returns the next line kubectl printed, failing the test if none comes.
func (w *kubectlWatch) next(t *testing.T) string {
	t.Helper()
	select {
	case l, ok := <-w.lines:
		if !ok {
			t.Fatalf("kubectl watch ended: %s", w.stderr)
		}
		return l
	case <-w.ctx.Done():
		t.Fatalf("no line from kubectl watch within %v", kubectlWatchTimeout)
	}
	return ""
}

// kubectlTable is one block of kubectl's tabular output.
type kubectlTable struct {
	header []string
	rows   [][]string
}

var kubectlColumnRE = regexp.MustCompile(`\S+( \S+)*`)

// parseKubectlTables splits kubectl get output into its blank-line separated
// tables. A cell starts where its column's header starts: headers such as
// "NOMINATED NODE" contain a single space, columns are three or more apart.
func parseKubectlTables(out string) []kubectlTable {
	var tables []kubectlTable
	var cur *kubectlTable
	var starts []int
	for _, line := range strings.Split(out, "\n") {
		if strings.TrimSpace(line) == "" {
			cur = nil
			continue
		}
		if cur == nil {
			tables = append(tables, kubectlTable{})
			cur = &tables[len(tables)-1]
			starts = starts[:0]
			for _, m := range kubectlColumnRE.FindAllStringIndex(line, -1) {
				cur.header = append(cur.header, line[m[0]:m[1]])
				starts = append(starts, m[0])
			}
			continue
		}
		row := make([]string, len(starts))
		for i, s := range starts {
			end := len(line)
			if i+1 < len(starts) {
				end = min(starts[i+1], len(line))
			}
			if s < end {
				row[i] = strings.TrimSpace(line[s:end])
			}
		}
		cur.rows = append(cur.rows, row)
	}
	return tables
}

// check asserts the table's header and that the row named name has the
// wanted cells.
func (tb kubectlTable) check(t *testing.T, header, name string, want map[string]string) {
	t.Helper()
	if got := strings.Join(tb.header, " "); got != header {
		t.Errorf("header = %q, want %q", got, header)
		return
	}
	if tb.row(name) == nil {
		t.Errorf("no row %s in table %q: %q", name, header, tb.rows)
		return
	}
	for col, v := range want {
		if got := tb.cell(name, col); got != v {
			t.Errorf("%s: %s = %q, want %q", name, col, got, v)
		}
	}
}

// row returns the row whose NAME is name, or nil.
func (tb kubectlTable) row(name string) []string {
	nameCol := slices.Index(tb.header, "NAME")
	for _, row := range tb.rows {
		if nameCol >= 0 && row[nameCol] == name {
			return row
		}
	}
	return nil
}

// cell returns column col of the row named name ("" if there is none).
func (tb kubectlTable) cell(name, col string) string {
	row, i := tb.row(name), slices.Index(tb.header, col)
	if row == nil || i < 0 {
		return ""
	}
	return row[i]
}

// wantKubectlLines asserts that out is exactly these lines.
func wantKubectlLines(t *testing.T, out string, want ...string) {
	t.Helper()
	if got := strings.Split(strings.TrimRight(out, "\n"), "\n"); !slices.Equal(got, want) {
		t.Errorf("kubectl printed %q, want %q", got, want)
	}
}

func getService(t *testing.T, cs kubernetes.Interface, ns, name string) *corev1.Service {
	t.Helper()
	svc, err := cs.CoreV1().Services(ns).Get(t.Context(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("get service %s/%s: %v", ns, name, err)
	}
	return svc
}

func getDeployment(t *testing.T, cs kubernetes.Interface, ns, name string) *appsv1.Deployment {
	t.Helper()
	d, err := cs.AppsV1().Deployments(ns).Get(t.Context(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("get deployment %s/%s: %v", ns, name, err)
	}
	return d
}

func serviceNames(l *corev1.ServiceList) []string {
	if l == nil {
		return nil
	}
	var n []string
	for _, s := range l.Items {
		n = append(n, s.Name)
	}
	return n
}

// readToken returns user's token from Shoal's token file
// (token,user,uid,"groups").
func readToken(t *testing.T, path, user string) string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r := csv.NewReader(f)
	r.FieldsPerRecord = -1
	records, err := r.ReadAll()
	if err != nil {
		t.Fatalf("read %s: %v", path, err)
	}
	for _, rec := range records {
		if len(rec) >= 2 && rec[1] == user {
			return rec[0]
		}
	}
	t.Fatalf("no token for %s in %s", user, path)
	return ""
}
