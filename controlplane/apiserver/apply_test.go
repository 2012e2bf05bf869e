package apiserver_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	appsv1ac "k8s.io/client-go/applyconfigurations/apps/v1"
	autoscalingv1ac "k8s.io/client-go/applyconfigurations/autoscaling/v1"
	autoscalingv2ac "k8s.io/client-go/applyconfigurations/autoscaling/v2"
	batchv1ac "k8s.io/client-go/applyconfigurations/batch/v1"
	coordinationv1ac "k8s.io/client-go/applyconfigurations/coordination/v1"
	corev1ac "k8s.io/client-go/applyconfigurations/core/v1"
	discoveryv1ac "k8s.io/client-go/applyconfigurations/discovery/v1"
	metav1ac "k8s.io/client-go/applyconfigurations/meta/v1"
	rbacv1ac "k8s.io/client-go/applyconfigurations/rbac/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	clientretry "k8s.io/client-go/util/retry"

	"github.com/shoalmesh/shoal/cluster/clustertest"
	"github.com/shoalmesh/shoal/controlplane/registry"
	"github.com/shoalmesh/shoal/internal/testenv"
)

func podSpec(name string) *corev1ac.PodSpecApplyConfiguration {
	return corev1ac.PodSpec().WithContainers(corev1ac.Container().WithName(name).WithCommand("/bin/true"))
}

func template(app string) *corev1ac.PodTemplateSpecApplyConfiguration {
	return corev1ac.PodTemplateSpec().WithLabels(map[string]string{"app": app}).WithSpec(podSpec(app))
}

// TestClientGoApply applies one object of every kind Shoal serves with
// client-go's typed Apply and its apply configurations, twice (the second
// is a no-op), and checks the manager owns what it applied.
func TestClientGoApply(t *testing.T) {
	a := startAPI(t, clustertest.Options{})
	cs, ctx := a.cs, t.Context()
	opts := metav1.ApplyOptions{FieldManager: "tester"}
	const ns = "ssa"
	sel := metav1ac.LabelSelector().WithMatchLabels(map[string]string{"app": "web"})
	applies := []struct {
		kind  string
		apply func() (metav1.Object, error)
	}{
		{"Namespace", func() (metav1.Object, error) {
			return cs.CoreV1().Namespaces().Apply(ctx, corev1ac.Namespace(ns).WithLabels(map[string]string{"team": "a"}), opts)
		}},
		{"Service", func() (metav1.Object, error) {
			return cs.CoreV1().Services(ns).Apply(ctx, corev1ac.Service("web", ns).WithSpec(corev1ac.ServiceSpec().
				WithSelector(map[string]string{"app": "web"}).WithPorts(corev1ac.ServicePort().WithName("http").WithPort(80).WithTargetPort(intstr.FromInt32(8080)))), opts)
		}},
		{"Pod", func() (metav1.Object, error) {
			return cs.CoreV1().Pods(ns).Apply(ctx, corev1ac.Pod("lone", ns).WithSpec(podSpec("lone")), opts)
		}},
		{"Node", func() (metav1.Object, error) {
			return cs.CoreV1().Nodes().Apply(ctx, corev1ac.Node("applied-node").WithSpec(corev1ac.NodeSpec().WithUnschedulable(true)), opts)
		}},
		{"Endpoints", func() (metav1.Object, error) {
			return cs.CoreV1().Endpoints(ns).Apply(ctx, corev1ac.Endpoints("db", ns).WithSubsets(corev1ac.EndpointSubset().
				WithAddresses(corev1ac.EndpointAddress().WithIP("127.0.0.10")).WithPorts(corev1ac.EndpointPort().WithPort(5432))), opts)
		}},
		{"Event", func() (metav1.Object, error) {
			return cs.CoreV1().Events(ns).Apply(ctx, corev1ac.Event("hello", ns).WithReason("Applied").WithMessage("hi").WithType("Normal").
				WithInvolvedObject(corev1ac.ObjectReference().WithKind("Service").WithName("web").WithNamespace(ns)), opts)
		}},
		{"ConfigMap", func() (metav1.Object, error) {
			return cs.CoreV1().ConfigMaps(ns).Apply(ctx, corev1ac.ConfigMap("settings", ns).WithData(map[string]string{"mode": "fast"}), opts)
		}},
		{"Secret", func() (metav1.Object, error) {
			return cs.CoreV1().Secrets(ns).Apply(ctx, corev1ac.Secret("creds", ns).WithStringData(map[string]string{"password": "x"}), opts)
		}},
		{"ServiceAccount", func() (metav1.Object, error) {
			return cs.CoreV1().ServiceAccounts(ns).Apply(ctx, corev1ac.ServiceAccount("robot", ns).WithAutomountServiceAccountToken(false), opts)
		}},
		{"Deployment", func() (metav1.Object, error) {
			return cs.AppsV1().Deployments(ns).Apply(ctx, appsv1ac.Deployment("web", ns).WithSpec(appsv1ac.DeploymentSpec().
				WithReplicas(0).WithSelector(sel).WithTemplate(template("web"))), opts)
		}},
		{"ReplicaSet", func() (metav1.Object, error) {
			return cs.AppsV1().ReplicaSets(ns).Apply(ctx, appsv1ac.ReplicaSet("spare", ns).WithSpec(appsv1ac.ReplicaSetSpec().
				WithReplicas(0).WithSelector(metav1ac.LabelSelector().WithMatchLabels(map[string]string{"app": "spare"})).WithTemplate(template("spare"))), opts)
		}},
		{"EndpointSlice", func() (metav1.Object, error) {
			return cs.DiscoveryV1().EndpointSlices(ns).Apply(ctx, discoveryv1ac.EndpointSlice("db-1", ns).WithAddressType("IPv4").
				WithEndpoints(discoveryv1ac.Endpoint().WithAddresses("127.0.0.10")).WithPorts(discoveryv1ac.EndpointPort().WithName("pg").WithPort(5432)), opts)
		}},
		{"Lease", func() (metav1.Object, error) {
			return cs.CoordinationV1().Leases(ns).Apply(ctx, coordinationv1ac.Lease("lock", ns).WithSpec(coordinationv1ac.LeaseSpec().WithHolderIdentity("me")), opts)
		}},
		{"Role", func() (metav1.Object, error) {
			return cs.RbacV1().Roles(ns).Apply(ctx, rbacv1ac.Role("reader", ns).WithRules(rbacv1ac.PolicyRule().
				WithAPIGroups("").WithResources("configmaps").WithVerbs("get")), opts)
		}},
		{"RoleBinding", func() (metav1.Object, error) {
			return cs.RbacV1().RoleBindings(ns).Apply(ctx, rbacv1ac.RoleBinding("reads", ns).
				WithRoleRef(rbacv1ac.RoleRef().WithAPIGroup("rbac.authorization.k8s.io").WithKind("Role").WithName("reader")).
				WithSubjects(rbacv1ac.Subject().WithKind("ServiceAccount").WithName("robot").WithNamespace(ns)), opts)
		}},
		{"ClusterRole", func() (metav1.Object, error) {
			return cs.RbacV1().ClusterRoles().Apply(ctx, rbacv1ac.ClusterRole("ssa-viewer").WithRules(rbacv1ac.PolicyRule().
				WithAPIGroups("").WithResources("namespaces").WithVerbs("get")), opts)
		}},
		{"ClusterRoleBinding", func() (metav1.Object, error) {
			return cs.RbacV1().ClusterRoleBindings().Apply(ctx, rbacv1ac.ClusterRoleBinding("ssa-viewer").
				WithRoleRef(rbacv1ac.RoleRef().WithAPIGroup("rbac.authorization.k8s.io").WithKind("ClusterRole").WithName("ssa-viewer")).
				WithSubjects(rbacv1ac.Subject().WithKind("ServiceAccount").WithName("robot").WithNamespace(ns)), opts)
		}},
		{"Job", func() (metav1.Object, error) {
			return cs.BatchV1().Jobs(ns).Apply(ctx, batchv1ac.Job("once", ns).WithSpec(batchv1ac.JobSpec().WithSuspend(true).
				WithTemplate(corev1ac.PodTemplateSpec().WithSpec(podSpec("once").WithRestartPolicy(corev1.RestartPolicyNever)))), opts)
		}},
		{"CronJob", func() (metav1.Object, error) {
			return cs.BatchV1().CronJobs(ns).Apply(ctx, batchv1ac.CronJob("nightly", ns).WithSpec(batchv1ac.CronJobSpec().
				WithSchedule("0 3 * * *").WithSuspend(true).WithJobTemplate(batchv1ac.JobTemplateSpec().WithSpec(batchv1ac.JobSpec().
				WithTemplate(corev1ac.PodTemplateSpec().WithSpec(podSpec("nightly").WithRestartPolicy(corev1.RestartPolicyOnFailure)))))), opts)
		}},
		{"HorizontalPodAutoscaler v2", func() (metav1.Object, error) {
			return cs.AutoscalingV2().HorizontalPodAutoscalers(ns).Apply(ctx, autoscalingv2ac.HorizontalPodAutoscaler("web", ns).
				WithSpec(autoscalingv2ac.HorizontalPodAutoscalerSpec().WithMaxReplicas(4).
					WithScaleTargetRef(autoscalingv2ac.CrossVersionObjectReference().WithAPIVersion("apps/v1").WithKind("Deployment").WithName("web"))), opts)
		}},
		{"HorizontalPodAutoscaler v1", func() (metav1.Object, error) {
			return cs.AutoscalingV1().HorizontalPodAutoscalers(ns).Apply(ctx, autoscalingv1ac.HorizontalPodAutoscaler("spare", ns).
				WithSpec(autoscalingv1ac.HorizontalPodAutoscalerSpec().WithMaxReplicas(2).WithTargetCPUUtilizationPercentage(70).
					WithScaleTargetRef(autoscalingv1ac.CrossVersionObjectReference().WithAPIVersion("apps/v1").WithKind("ReplicaSet").WithName("spare"))), opts)
		}},
	}
	served := map[string]bool{}
	for _, ap := range applies {
		served[strings.TrimSuffix(strings.TrimSuffix(ap.kind, " v1"), " v2")] = true
		first, err := ap.apply()
		if err != nil {
			t.Fatalf("apply %s: %v", ap.kind, err)
		}
		if !appliedBy(first.GetManagedFields(), "tester") {
			t.Errorf("%s: managedFields %+v have no Apply entry of tester", ap.kind, first.GetManagedFields())
		}
		again, err := ap.apply()
		if err != nil {
			t.Fatalf("apply %s again: %v", ap.kind, err)
		}
		// (Controllers may write the status meanwhile: compare what the
		// apply owns.)
		if again.GetGeneration() != first.GetGeneration() {
			t.Errorf("%s: applying the same configuration again changed the generation %d → %d", ap.kind, first.GetGeneration(), again.GetGeneration())
		}
	}
	for _, info := range registry.All {
		if !served[info.Kind] {
			t.Errorf("no apply of %s in the table", info.Kind)
		}
	}
}

// appliedBy reports whether entries have an Apply entry of manager.
func appliedBy(entries []metav1.ManagedFieldsEntry, manager string) bool {
	for _, e := range entries {
		if e.Manager == manager && e.Operation == metav1.ManagedFieldsOperationApply {
			return true
		}
	}
	return false
}

// TestApplyConflictsAndOwnership is the server-side apply contract through
// client-go: a second manager's change is a 409 naming the owner and the
// field, Force takes the field, a field the manager stops applying is
// removed, and other writes are recorded with their managers.
func TestApplyConflictsAndOwnership(t *testing.T) {
	a := startAPI(t, clustertest.Options{})
	cs, ctx := a.cs, t.Context()
	a.createNamespace("own")
	deploy := func(replicas int32, labels map[string]string) *appsv1ac.DeploymentApplyConfiguration {
		return appsv1ac.Deployment("web", "own").WithLabels(labels).WithSpec(appsv1ac.DeploymentSpec().WithReplicas(replicas).
			WithSelector(metav1ac.LabelSelector().WithMatchLabels(map[string]string{"app": "web"})).WithTemplate(template("web")))
	}
	apply := func(manager string, force bool, d *appsv1ac.DeploymentApplyConfiguration) (*appsv1.Deployment, error) {
		return cs.AppsV1().Deployments("own").Apply(ctx, d, metav1.ApplyOptions{FieldManager: manager, Force: force})
	}
	if _, err := apply("alice", false, deploy(0, map[string]string{"a": "1", "b": "2"})); err != nil {
		t.Fatal(err)
	}
	_, err := apply("bob", false, deploy(1, nil))
	if !apierrors.IsConflict(err) || !strings.Contains(err.Error(), `Apply failed with 1 conflict: conflict with "alice": .spec.replicas`) {
		t.Fatalf("bob's apply of another replicas: err = %v, want a conflict with alice over .spec.replicas", err)
	}
	// The same value is shared, not a conflict.
	if _, err := apply("bob", false, deploy(0, nil)); err != nil {
		t.Fatalf("bob applies alice's value: %v", err)
	}
	d, err := apply("bob", true, deploy(1, nil))
	if err != nil || *d.Spec.Replicas != 1 {
		t.Fatalf("forced apply: replicas %v, err %v", d.Spec.Replicas, err)
	}
	// alice stops applying label b: it goes; a stays.
	d, err = apply("alice", false, appsv1ac.Deployment("web", "own").WithLabels(map[string]string{"a": "1"}).WithSpec(appsv1ac.DeploymentSpec().
		WithSelector(metav1ac.LabelSelector().WithMatchLabels(map[string]string{"app": "web"})).WithTemplate(template("web"))))
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := d.Labels["b"]; ok || d.Labels["a"] != "1" || *d.Spec.Replicas != 1 {
		t.Errorf("after alice dropped label b: labels %v, replicas %d", d.Labels, *d.Spec.Replicas)
	}

	// Writes that are not applies are recorded as Update, under their
	// fieldManager or else their User-Agent's first word, as Kubernetes does.
	cfg := rest.CopyConfig(a.shoal.RESTConfig(t))
	cfg.UserAgent = "tester/1.0 (linux)"
	tester := kubernetes.NewForConfigOrDie(cfg)
	if err := clientretry.RetryOnConflict(clientretry.DefaultRetry, func() error {
		d := getDeploymentOf(t, cs, "own", "web")
		d.Spec.Template.Labels["v"] = "2"
		_, err := tester.AppsV1().Deployments("own").Update(ctx, d, metav1.UpdateOptions{})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	cm, err := tester.CoreV1().ConfigMaps("own").Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "c"}, Data: map[string]string{"k": "v"}},
		metav1.CreateOptions{FieldManager: "creator"})
	if err != nil {
		t.Fatal(err)
	}
	if m := managers(cm.ManagedFields); m != "creator/Update" {
		t.Errorf("created configmap's managers: %s", m)
	}
	// (The deployment controller writes the revision annotation in its
	// own time.)
	testenv.Eventually(t, 10*time.Second, "the deployment's managers", func() error {
		d := getDeploymentOf(t, cs, "own", "web")
		want := map[string]bool{"alice/Apply": true, "bob/Apply": true, "tester/Update": true, registry.ControllerManager + "/Update": true}
		for _, e := range d.ManagedFields {
			delete(want, e.Manager+"/"+string(e.Operation))
		}
		if len(want) > 0 {
			return fmt.Errorf("managers %s lack %v", managers(d.ManagedFields), want)
		}
		return nil
	})
	// Many writes of the same managers keep one entry each.
	for i := range 20 {
		if _, err := cs.CoreV1().ConfigMaps("own").Patch(ctx, "c", "application/merge-patch+json",
			[]byte(`{"data":{"k":"`+strings.Repeat("v", i+1)+`"}}`), metav1.PatchOptions{FieldManager: "patcher"}); err != nil {
			t.Fatal(err)
		}
	}
	cm, err = cs.CoreV1().ConfigMaps("own").Get(ctx, "c", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if m := managers(cm.ManagedFields); m != "creator/Update,patcher/Update" {
		t.Errorf("configmap's managers after 20 patches: %s", m)
	}
	// The status subresource is applied with its own manager.
	_, err = cs.CoreV1().Services("own").Apply(ctx, corev1ac.Service("s", "own").WithSpec(corev1ac.ServiceSpec().
		WithPorts(corev1ac.ServicePort().WithPort(80))), metav1.ApplyOptions{FieldManager: "alice"})
	if err != nil {
		t.Fatal(err)
	}
	svc, err := cs.CoreV1().Services("own").ApplyStatus(ctx, corev1ac.Service("s", "own").WithStatus(corev1ac.ServiceStatus().
		WithLoadBalancer(corev1ac.LoadBalancerStatus().WithIngress(corev1ac.LoadBalancerIngress().WithIP("127.0.0.9")))),
		metav1.ApplyOptions{FieldManager: "lb"})
	if err != nil {
		t.Fatal(err)
	}
	if len(svc.Status.LoadBalancer.Ingress) != 1 || len(svc.Spec.Ports) != 1 {
		t.Errorf("after a status apply: spec ports %v, status %+v", svc.Spec.Ports, svc.Status)
	}
	for _, e := range svc.ManagedFields {
		if e.Manager == "lb" && e.Subresource != "status" {
			t.Errorf("lb's entry is not of the status subresource: %+v", e)
		}
	}
}

func getDeploymentOf(t *testing.T, cs kubernetes.Interface, ns, name string) *appsv1.Deployment {
	t.Helper()
	d, err := cs.AppsV1().Deployments(ns).Get(context.WithoutCancel(t.Context()), name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// managers lists entries as manager/operation, sorted as stored.
func managers(entries []metav1.ManagedFieldsEntry) string {
	var out []string
	for _, e := range entries {
		out = append(out, e.Manager+"/"+string(e.Operation))
	}
	return strings.Join(out, ",")
}
