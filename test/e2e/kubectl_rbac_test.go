package e2e

import (
	"errors"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/shoalmesh/shoal/internal/testenv"
)

// canI runs `kubectl auth can-i args...` and returns its answer (stdout)
// and its exit code: 0 for yes, 1 for no.
func (k *kubectl) canI(t *testing.T, args ...string) (string, int) {
	t.Helper()
	stdout, stderr, err := k.run(t, append([]string{"auth", "can-i"}, args...)...)
	var exit *exec.ExitError
	switch {
	case err == nil:
		return strings.TrimSpace(stdout), 0
	case errors.As(err, &exit):
		if exit.ExitCode() != 1 {
			t.Logf("kubectl auth can-i %s: %s", strings.Join(args, " "), stderr)
		}
		return strings.TrimSpace(stdout), exit.ExitCode()
	}
	t.Fatalf("kubectl auth can-i %s: %v", strings.Join(args, " "), err)
	return "", 0
}

// eventuallyCan waits until `kubectl auth can-i args` says yes: a binding
// applies once the API server's cache has it, moments after it is written.
func (k *kubectl) eventuallyCan(t *testing.T, args ...string) {
	t.Helper()
	testenv.Eventually(t, 10*time.Second, "can-i "+strings.Join(args, " "), func() error {
		if out, code := k.canI(t, args...); code != 0 {
			return errors.New(out)
		}
		return nil
	})
}

// RBAC through the real kubectl: roles and bindings made with kubectl
// create, printed as Kubernetes prints them; kubectl auth can-i (yes/no and
// exit codes, --list, --as a ServiceAccount), whoami, impersonation allowed
// to the admin and refused to the viewer; Kubernetes' 403 texts; an
// escalating role refused and not stored; invalid rules refused naming the
// field.
func TestKubectlRBAC(t *testing.T) {
	t.Parallel()
	s, k := startKubectl(t)
	cs := s.Clientset(t)
	viewer := k.withToken(readToken(t, filepath.Join(s.DataDir, "tokens.csv"), "viewer"))
	janeToken, err := s.Tokens.Add("jane", nil)
	if err != nil {
		t.Fatal(err)
	}
	jane := k.withToken(janeToken)

	k.ok(t, "create", "namespace", "team")
	k.ok(t, "create", "role", "pod-reader", "--verb=get,list,watch", "--resource=pods", "-n", "team")
	k.ok(t, "create", "rolebinding", "app-reads", "--role=pod-reader", "--serviceaccount=team:app", "-n", "team")
	k.ok(t, "create", "clusterrolebinding", "jane-view", "--clusterrole=view", "--user=jane", "--group=devs", "--serviceaccount=team:ops")
	k.ok(t, "create", "rolebinding", "jane-admin", "--clusterrole=admin", "--user=jane", "-n", "team")

	out, _ := k.ok(t, "get", "clusterrolebinding", "jane-view", "-o", "wide")
	parseKubectlTables(out)[0].check(t, "NAME ROLE AGE USERS GROUPS SERVICEACCOUNTS", "jane-view",
		map[string]string{"ROLE": "ClusterRole/view", "USERS": "jane", "GROUPS": "devs", "SERVICEACCOUNTS": "team/ops"})
	out, _ = k.ok(t, "get", "roles", "-n", "team")
	if tb := parseKubectlTables(out)[0]; strings.Join(tb.header, " ") != "NAME CREATED AT" || tb.row("pod-reader") == nil {
		t.Errorf("kubectl get roles:\n%s", out)
	}
	out, _ = k.ok(t, "get", "clusterroles", "admin", "edit", "view", "cluster-admin")
	if tb := parseKubectlTables(out)[0]; len(tb.rows) != 4 {
		t.Errorf("the default cluster roles:\n%s", out)
	}

	for _, tt := range []struct {
		name string
		k    *kubectl
		args []string
		out  string
		code int
	}{
		{"admin may create pods", k, []string{"create", "pods"}, "yes", 0},
		{"admin may do anything", k, []string{"*", "*"}, "yes", 0},
		{"viewer may list pods", viewer, []string{"list", "pods", "-A"}, "yes", 0},
		{"viewer may not create pods", viewer, []string{"create", "pods"}, "no", 1},
		{"viewer may not delete namespaces", viewer, []string{"delete", "namespaces/team"}, "no", 1},
		{"another service account views everywhere", k, []string{"list", "deployments", "-A", "--as", "system:serviceaccount:team:ops"}, "yes", 0},
		{"the service account reads pods in team", k, []string{"get", "pods", "-n", "team", "--as", "system:serviceaccount:team:app"}, "yes", 0},
		{"and nowhere else by its role", k, []string{"delete", "pods", "-n", "team", "--as", "system:serviceaccount:team:app"}, "no", 1},
		{"jane administers team", jane, []string{"create", "rolebindings", "-n", "team"}, "yes", 0},
		{"jane only reads default", jane, []string{"create", "deployments", "-n", "default"}, "no", 1},
	} {
		t.Run(tt.name, func(t *testing.T) {
			testenv.Eventually(t, 10*time.Second, tt.name, func() error {
				if out, code := tt.k.canI(t, tt.args...); out != tt.out || code != tt.code {
					return errors.New(out)
				}
				return nil
			})
		})
	}

	k.eventuallyCan(t, "list", "pods", "-n", "team", "--as", "system:serviceaccount:team:app")
	out, _ = k.ok(t, "auth", "can-i", "--list", "-n", "team", "--as", "system:serviceaccount:team:app")
	for _, re := range []string{`(?m)^pods\s+\[\]\s+\[\]\s+\[get list watch\]$`, `(?m)^selfsubjectaccessreviews\.authorization\.k8s\.io\s+\[\]\s+\[\]\s+\[create\]$`,
		`(?m)^\s+\[/api/\*\]\s+\[\]\s+\[get\]$`} {
		if !regexp.MustCompile(re).MatchString(out) {
			t.Errorf("can-i --list lacks %s:\n%s", re, out)
		}
	}

	out, _ = k.ok(t, "auth", "whoami")
	if tb := parseKubectlTables(out)[0]; !strings.Contains(out, "admin") || !strings.Contains(out, "[system:masters system:authenticated]") {
		t.Errorf("kubectl auth whoami:\n%s (%q)", out, tb.rows)
	}
	out, _ = k.ok(t, "auth", "whoami", "--as", "jane", "--as-group", "devs")
	if !regexp.MustCompile(`Username\s+jane`).MatchString(out) || !strings.Contains(out, "[devs system:authenticated]") {
		t.Errorf("kubectl auth whoami --as jane --as-group devs:\n%s", out)
	}

	refusals := []struct {
		name string
		k    *kubectl
		args []string
		want string
	}{
		{"viewer impersonates", viewer, []string{"get", "pods", "--as", "admin"},
			`Error from server (Forbidden): users "admin" is forbidden: User "viewer" cannot impersonate resource "users" in API group "" at the cluster scope`},
		{"viewer writes", viewer, []string{"create", "deployment", "web", "--image=web", "-n", "default"},
			`deployments.apps is forbidden: User "viewer" cannot create resource "deployments" in API group "apps" in the namespace "default"`},
		{"a service account lists elsewhere", k, []string{"get", "pods", "-n", "default", "--as", "system:serviceaccount:team:app"},
			`Error from server (Forbidden): pods is forbidden: User "system:serviceaccount:team:app" cannot list resource "pods" in API group "" in the namespace "default"`},
		{"jane grants more than she holds", jane, []string{"create", "role", "node-reader", "--verb=get", "--resource=nodes", "-n", "team"},
			`Error from server (Forbidden): roles.rbac.authorization.k8s.io "node-reader" is forbidden: user "jane" (groups=["system:authenticated"]) is attempting to grant RBAC permissions not currently held:` +
				"\n" + `{APIGroups:[""], Resources:["nodes"], Verbs:["get"]}`},
		{"jane binds cluster-admin", jane, []string{"create", "rolebinding", "root", "--clusterrole=cluster-admin", "--user=jane", "-n", "team"},
			`rolebindings.rbac.authorization.k8s.io "root" is forbidden: user "jane" (groups=["system:authenticated"]) is attempting to grant RBAC permissions not currently held:`},
	}
	for _, tt := range refusals {
		t.Run(tt.name, func(t *testing.T) {
			if stderr := tt.k.fails(t, tt.args...); !strings.Contains(stderr, tt.want) {
				t.Errorf("stderr does not contain\n%s\ngot:\n%s", tt.want, stderr)
			}
		})
	}
	if _, err := cs.RbacV1().Roles("team").Get(t.Context(), "node-reader", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("refused role node-reader: %v, want NotFound", err)
	}
	if _, err := cs.RbacV1().RoleBindings("team").Get(t.Context(), "root", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("refused binding root: %v, want NotFound", err)
	}
	// Within her rights she may: a role for pods in team, bound to bob.
	jane.ok(t, "create", "role", "pod-writer", "--verb=create,delete", "--resource=pods", "-n", "team")
	jane.ok(t, "create", "rolebinding", "bob-writes", "--role=pod-writer", "--user=bob", "-n", "team")
	k.eventuallyCan(t, "create", "pods", "-n", "team", "--as", "bob")

	bad := k.write(t, "bad-role.yaml", `apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: bad, namespace: team}
rules:
- apiGroups: [""]
  resources: [pods]
`)
	if stderr := k.fails(t, "apply", "-f", bad); !strings.Contains(stderr, `The Role "bad" is invalid: rules[0].verbs: Required value: verbs must contain at least one value`) {
		t.Errorf("invalid role: %s", stderr)
	}
	if _, err := cs.RbacV1().Roles("team").Get(t.Context(), "bad", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("invalid role bad: %v, want NotFound", err)
	}
}

// The README's RBAC manifest applies, and grants what it says: the
// ServiceAccount shop/app and jane read pods in shop, nothing more.
func TestReadmeRBACExample(t *testing.T) {
	t.Parallel()
	_, k := startKubectl(t)
	k.ok(t, "create", "namespace", "shop")
	manifest := readmeBlock(t, "or as a manifest:", "yaml")
	out, _ := k.ok(t, "apply", "-f", k.write(t, "rbac.yaml", manifest))
	for _, want := range []string{"role.rbac.authorization.k8s.io/pod-reader created", "rolebinding.rbac.authorization.k8s.io/app-reads created"} {
		if !strings.Contains(out, want) {
			t.Errorf("apply printed %q, want %q", out, want)
		}
	}
	for _, as := range []string{"system:serviceaccount:shop:app", "jane"} {
		k.eventuallyCan(t, "get", "pods", "--subresource=log", "-n", "shop", "--as", as)
		if out, code := k.canI(t, "delete", "pods", "-n", "shop", "--as", as); out != "no" || code != 1 {
			t.Errorf("%s may delete pods: %s", as, out)
		}
	}
}
