package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/util/retry"

	"github.com/shoalmesh/shoal/api"
	"github.com/shoalmesh/shoal/internal/testenv"
)

// actAsAgent stands in for the node agent of every pod matching selector
// in namespace default: a pod still Pending is reported with phase (and,
// if Running, ready). Real pods on a node are tested with the agent.
func actAsAgent(t *testing.T, cs kubernetes.Interface, selector string, phase corev1.PodPhase) []corev1.Pod {
	t.Helper()
	ctx := t.Context()
	pods, err := cs.CoreV1().Pods("default").List(ctx, metav1.ListOptions{LabelSelector: selector})
	if err != nil {
		t.Fatal(err)
	}
	var out []corev1.Pod
	for _, listed := range pods.Items {
		var got *corev1.Pod
		err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
			p, err := cs.CoreV1().Pods("default").Get(ctx, listed.Name, metav1.GetOptions{})
			if err != nil {
				return err
			}
			got = p
			if p.Status.Phase != corev1.PodPending || p.DeletionTimestamp != nil {
				return nil
			}
			// Running for a while already: a pod's CPU counts for
			// autoscaling once it has been ready for a measurement window.
			now := metav1.NewTime(time.Now().Add(-10 * time.Minute))
			p.Status.Phase, p.Status.StartTime = phase, &now
			p.Status.PodIP = fmt.Sprintf("10.244.0.%d", 10+len(out))
			if phase == corev1.PodRunning {
				p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: now}}
			} else {
				p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: p.Spec.Containers[0].Name, State: corev1.ContainerState{
					Terminated: &corev1.ContainerStateTerminated{ExitCode: 0, Reason: "Completed", FinishedAt: now}}}}
			}
			got, err = cs.CoreV1().Pods("default").UpdateStatus(ctx, p, metav1.UpdateOptions{})
			return err
		})
		if apierrors.IsNotFound(err) {
			continue
		}
		if err != nil {
			t.Fatalf("report pod %s %s: %v", listed.Name, phase, err)
		}
		out = append(out, *got)
	}
	return out
}

// TestKubectlJobs: `kubectl create job`, `wait --for=condition=complete`,
// `get jobs`, `describe job`, `logs job/x`, an Indexed Job applied from a
// manifest, CronJobs and `create job --from=cronjob/x`, `get all`, and a
// bad Job refused with the field named.
func TestKubectlJobs(t *testing.T) {
	t.Parallel()
	s, k := startKubectl(t)
	cs := s.Clientset(t)

	out, _ := k.ok(t, "create", "job", "pi", "--image=busybox:1.36", "--", "/bin/sh", "-c", "echo 3.14159")
	wantKubectlLines(t, out, "job.batch/pi created")
	// The job controller makes the pod; the test reports it done.
	var pods []corev1.Pod
	testenv.Eventually(t, 20*time.Second, "the job's pod", func() error {
		pods = actAsAgent(t, cs, "job-name=pi", corev1.PodSucceeded)
		if len(pods) != 1 {
			return fmt.Errorf("%d pods", len(pods))
		}
		return nil
	})
	out, _ = k.ok(t, "wait", "--for=condition=complete", "job/pi", "--timeout=20s")
	wantKubectlLines(t, out, "job.batch/pi condition met")
	out, _ = k.ok(t, "get", "jobs")
	parseKubectlTables(out)[0].check(t, "NAME STATUS COMPLETIONS DURATION AGE", "pi", map[string]string{"STATUS": "Complete", "COMPLETIONS": "1/1"})
	describeShows(t, k, []string{"job", "pi"}, quoteAll(
		"Completions:      1", "Completion Mode:  NonIndexed", "Backoff Limit:    6",
		"Pods Statuses:    0 Active (0 Ready) / 1 Succeeded / 0 Failed",
		"Created pod: "+pods[0].Name, "Job completed")...)
	// kubectl finds the Job's pod and asks for its log; with no node agent
	// in this test the log itself cannot be read, and the error names the
	// pod.
	_, errOut, _ := k.run(t, "logs", "job/pi")
	if !strings.Contains(errOut, pods[0].Name) {
		t.Errorf("kubectl logs job/pi: %q; want it to go to pod %s", errOut, pods[0].Name)
	}

	// An Indexed Job: each pod its index, hostname and JOB_COMPLETION_INDEX.
	k.ok(t, "apply", "-f", k.write(t, "indexed.yaml", `apiVersion: batch/v1
kind: Job
metadata: {name: train}
spec:
  completions: 4
  parallelism: 2
  completionMode: Indexed
  template:
    spec:
      restartPolicy: Never
      subdomain: workers
      containers:
      - name: worker
        command: ["/bin/sh", "-c", "echo $JOB_COMPLETION_INDEX"]
`))
	seen := map[string]bool{}
	testenv.Eventually(t, 30*time.Second, "the indexed job's 4 pods done", func() error {
		for _, p := range actAsAgent(t, cs, "job-name=train", corev1.PodSucceeded) {
			ix := p.Labels[batchv1.JobCompletionIndexAnnotation]
			if p.Spec.Hostname != "train-"+ix || p.Spec.Subdomain != "workers" || len(p.Spec.Containers[0].Env) != 1 {
				return fmt.Errorf("pod %s: index %q hostname %q env %v", p.Name, ix, p.Spec.Hostname, p.Spec.Containers[0].Env)
			}
			seen[ix] = true
		}
		if len(seen) != 4 {
			return fmt.Errorf("indexes seen: %v", seen)
		}
		return nil
	})
	k.ok(t, "wait", "--for=condition=complete", "job/train", "--timeout=20s")
	out, _ = k.ok(t, "get", "job", "train", "-o", "jsonpath={.status.completedIndexes} {.status.succeeded}")
	if out != "0-3 4" {
		t.Errorf("completedIndexes and succeeded = %q; want \"0-3 4\"", out)
	}

	// CronJobs.
	out, _ = k.ok(t, "create", "cronjob", "nightly", "--image=busybox:1.36", "--schedule=0 3 * * *", "--", "date")
	wantKubectlLines(t, out, "cronjob.batch/nightly created")
	out, _ = k.ok(t, "get", "cj")
	parseKubectlTables(out)[0].check(t, "NAME SCHEDULE TIMEZONE SUSPEND ACTIVE LAST SCHEDULE AGE", "nightly",
		map[string]string{"SCHEDULE": "0 3 * * *", "TIMEZONE": "<none>", "SUSPEND": "False", "ACTIVE": "0", "LAST SCHEDULE": "<none>"})
	out, _ = k.ok(t, "create", "job", "nightly-now", "--from=cronjob/nightly")
	wantKubectlLines(t, out, "job.batch/nightly-now created")
	j, err := cs.BatchV1().Jobs("default").Get(t.Context(), "nightly-now", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if j.Annotations["cronjob.kubernetes.io/instantiate"] != "manual" || len(j.OwnerReferences) != 1 || j.OwnerReferences[0].Kind != "CronJob" {
		t.Errorf("job from the cronjob: annotations %v, owners %+v", j.Annotations, j.OwnerReferences)
	}

	out, _ = k.ok(t, "get", "all")
	for _, want := range []string{"job.batch/pi", "job.batch/train", "job.batch/nightly-now", "cronjob.batch/nightly"} {
		if !strings.Contains(out, want) {
			t.Errorf("kubectl get all does not list %s:\n%s", want, out)
		}
	}

	// A Job that would restart its pods for ever is refused, naming the
	// field, and nothing is stored.
	errOut = k.fails(t, "create", "-f", k.write(t, "bad.yaml", `apiVersion: batch/v1
kind: Job
metadata: {name: bad}
spec:
  template:
    spec:
      restartPolicy: Always
      containers: [{name: c, image: busybox:1.36}]
`))
	if want := `The Job "bad" is invalid: spec.template.spec.restartPolicy: Required value: valid values: "OnFailure", "Never"`; !strings.Contains(errOut, want) {
		t.Errorf("kubectl create of a bad job: %q; want %q", errOut, want)
	}
	k.fails(t, "get", "job", "bad")
}

// TestKubectlAutoscale: `kubectl autoscale`, `get hpa` (targets such as
// "cpu: 180%/50%"), `describe hpa` with Kubernetes' conditions, an HPA on
// CPU scaling a Deployment from the node load reports, an HPA naming a
// missing target, and autoscaling/v1 served as a version of the same
// objects.
func TestKubectlAutoscale(t *testing.T) {
	t.Parallel()
	s, k := startKubectl(t)
	cs := s.Clientset(t)
	ctx := t.Context()
	k.ok(t, "apply", "-f", k.write(t, "web.yaml", `apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 1
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - name: web
        image: nginx:1.27
        resources: {requests: {cpu: 100m}}
`))
	// The pod runs busy: 90m of its 100m request, as its node reports it.
	var pods []corev1.Pod
	testenv.Eventually(t, 20*time.Second, "the deployment's pod running", func() error {
		pods = actAsAgent(t, cs, "app=web", corev1.PodRunning)
		if len(pods) != 1 {
			return fmt.Errorf("%d pods", len(pods))
		}
		return nil
	})
	reportLoad(t, cs, pods, 0.09)

	out, _ := k.ok(t, "autoscale", "deploy", "web", "--cpu-percent=50", "--min=1", "--max=5")
	wantKubectlLines(t, out, "horizontalpodautoscaler.autoscaling/web autoscaled")
	testenv.Eventually(t, 20*time.Second, "the hpa to scale web to 2", func() error {
		d, err := cs.AppsV1().Deployments("default").Get(ctx, "web", metav1.GetOptions{})
		if err != nil {
			return err
		}
		if *d.Spec.Replicas != 2 {
			return fmt.Errorf("%d replicas", *d.Spec.Replicas)
		}
		return nil
	})
	out, _ = k.ok(t, "get", "hpa")
	parseKubectlTables(out)[0].check(t, "NAME REFERENCE TARGETS MINPODS MAXPODS REPLICAS AGE", "web",
		map[string]string{"REFERENCE": "Deployment/web", "TARGETS": "cpu: 90%/50%", "MINPODS": "1", "MAXPODS": "5"})
	describeShows(t, k, []string{"hpa", "web"}, append(quoteAll(
		"Deployment/web",
		"resource cpu on pods  (as a percentage of request):  90% (90m) / 50%",
		"Deployment pods:                                       2 current / 2 desired",
		"New size: 2; reason: cpu resource utilization (percentage of request) above target"),
		`AbleToScale\s+True\s`, `ScalingActive\s+True\s+ValidMetricFound\s+the HPA was able to successfully calculate a replica count from cpu resource utilization \(percentage of request\)`)...)

	// autoscaling/v1 is the same object, converted.
	out, _ = k.ok(t, "get", "--raw", "/apis/autoscaling/v1/namespaces/default/horizontalpodautoscalers/web")
	if !strings.Contains(out, `"apiVersion":"autoscaling/v1"`) || !strings.Contains(out, `"targetCPUUtilizationPercentage":50`) {
		t.Errorf("the hpa at autoscaling/v1: %s", out)
	}
	k.ok(t, "apply", "-f", k.write(t, "v1.yaml", `apiVersion: autoscaling/v1
kind: HorizontalPodAutoscaler
metadata: {name: ghost}
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: ghost}
  maxReplicas: 3
  targetCPUUtilizationPercentage: 70
`))
	out, _ = k.ok(t, "get", "hpa", "ghost", "-o", "jsonpath={.apiVersion} {.spec.metrics[0].resource.target.averageUtilization}")
	if out != "autoscaling/v2 70" {
		t.Errorf("the v1 hpa read as v2: %q", out)
	}
	// It names a Deployment that does not exist: a condition says so.
	testenv.Eventually(t, 20*time.Second, "the FailedGetScale condition", func() error {
		out, _ := k.ok(t, "describe", "hpa", "ghost")
		if !strings.Contains(out, "FailedGetScale") || !strings.Contains(out, `deployments.apps "ghost" not found`) {
			return fmt.Errorf("describe:\n%s", out)
		}
		return nil
	})
	// Shoal's traffic metrics, as the custom metrics API: what the xDS
	// replicas publish from the proxies' load reports.
	b, err := json.Marshal(api.TrafficReport{pods[0].Status.PodIP: {RPS: 42.5, InFlight: 3, CPU: -1, Reporters: 1}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Etcd.Put(ctx, api.TrafficPrefix+"xds-test", string(b)); err != nil {
		t.Fatal(err)
	}
	out, _ = k.ok(t, "get", "--raw", "/apis/custom.metrics.k8s.io/v1beta2/namespaces/default/pods/*/shoal_requests_per_second?labelSelector=app%3Dweb")
	for _, want := range []string{`"kind":"MetricValueList"`, `"name":"` + pods[0].Name + `"`, `"value":"42500m"`, `"metric":{"name":"shoal_requests_per_second"}`} {
		if !strings.Contains(out, want) {
			t.Errorf("custom metrics API: %s; want %s", out, want)
		}
	}
	if errOut := k.fails(t, "get", "--raw", "/apis/custom.metrics.k8s.io/v1beta2/namespaces/default/pods/*/http_requests"); !strings.Contains(errOut, "NotFound") {
		t.Errorf("an unknown custom metric: %q", errOut)
	}

	out, _ = k.ok(t, "get", "all")
	if !strings.Contains(out, "horizontalpodautoscaler.autoscaling/web") {
		t.Errorf("kubectl get all does not list the hpa:\n%s", out)
	}
}

// reportLoad puts a load report on node-1's Lease with cores of CPU for
// each of pods, as its node agent would.
func reportLoad(t *testing.T, cs kubernetes.Interface, pods []corev1.Pod, cores float64) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	rep := api.LoadReport{CPU: 1, Memory: 1 << 30, Pods: len(pods), Time: time.Now(), PodLoads: map[string]api.PodLoad{}}
	for _, p := range pods {
		rep.PodLoads[p.Namespace+"/"+p.Name] = api.PodLoad{CPU: cores, Memory: 64 << 20}
	}
	now, holder := metav1.NewMicroTime(time.Now()), "node-1"
	lease := &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Namespace: api.NodeLeaseNamespace, Name: "node-1"},
		Spec: coordinationv1.LeaseSpec{HolderIdentity: &holder, RenewTime: &now}}
	if err := api.SetLoadReport(lease, rep); err != nil {
		t.Fatal(err)
	}
	if _, err := cs.CoordinationV1().Leases(api.NodeLeaseNamespace).Create(ctx, lease, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

// quoteAll makes literal lines into the patterns describeShows takes.
func quoteAll(lines ...string) []string {
	out := make([]string, len(lines))
	for i, l := range lines {
		out[i] = regexp.QuoteMeta(l)
	}
	return out
}

// The README's Indexed Job (with its headless Service) and its HPA on
// requests per second apply as they say.
func TestReadmeWorkloadExamples(t *testing.T) {
	t.Parallel()
	s, k := startKubectl(t)
	cs := s.Clientset(t)
	out, _ := k.ok(t, "apply", "-f", k.write(t, "indexed.yaml", readmeBlock(t, "`<job>-<index>.<subdomain>.<namespace>.svc.cluster.local`", "yaml")))
	for _, want := range []string{"service/workers created", "job.batch/train created"} {
		if !strings.Contains(out, want) {
			t.Errorf("apply printed %q, want %q", out, want)
		}
	}
	testenv.Eventually(t, 20*time.Second, "indexes 0 and 1 running", func() error {
		pods, err := cs.CoreV1().Pods("default").List(t.Context(), metav1.ListOptions{LabelSelector: "batch.kubernetes.io/job-name=train"})
		if err != nil {
			return err
		}
		var got []string
		for _, p := range pods.Items {
			got = append(got, p.Labels[batchv1.JobCompletionIndexAnnotation]+"@"+p.Spec.Hostname+"."+p.Spec.Subdomain)
		}
		sort.Strings(got)
		if strings.Join(got, " ") != "0@train-0.workers 1@train-1.workers" {
			return fmt.Errorf("pods %v", got)
		}
		return nil
	})

	k.ok(t, "apply", "-f", k.write(t, "app.yaml", readmeBlock(t, "where `app.yaml` is any ordinary manifest", "yaml")))
	out, _ = k.ok(t, "apply", "-f", k.write(t, "hpa.yaml", readmeBlock(t, "Metrics come from what Shoal already measures", "yaml")))
	wantKubectlLines(t, out, "horizontalpodautoscaler.autoscaling/web created")
	// Its pods are not running (no node here): the HPA gets the scale but
	// has no traffic figures for pods without an address.
	testenv.Eventually(t, 20*time.Second, "the hpa's conditions", func() error {
		h, err := cs.AutoscalingV2().HorizontalPodAutoscalers("shop").Get(t.Context(), "web", metav1.GetOptions{})
		if err != nil {
			return err
		}
		var got []string
		for _, c := range h.Status.Conditions {
			got = append(got, fmt.Sprintf("%s=%s/%s", c.Type, c.Status, c.Reason))
		}
		if strings.Join(got, " ") != "AbleToScale=True/SucceededGetScale ScalingActive=False/FailedGetPodsMetric" {
			return fmt.Errorf("conditions %v", got)
		}
		return nil
	})
}
