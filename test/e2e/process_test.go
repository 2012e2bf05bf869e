package e2e

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"

	"github.com/shoalmesh/shoal/internal/testenv"
)

// TestProcess runs `shoal up` as a child process: the binary is built once
// and shared by the subtests, each on its own data dir and ports.
func TestProcess(t *testing.T) {
	bin := buildShoal(t, t.TempDir())

	t.Run("UpServesReadyz", func(t *testing.T) {
		t.Parallel()
		addrs := freeAddrs(t)
		freeAPI := addrs.API
		p := startShoal(t, bin, t.TempDir(), addrs)
		t.Logf("shoal up answered /readyz %v after start", p.waitReady(t).Round(time.Millisecond))
		// The banner comes once DNS serves too, just after the API server.
		testenv.Eventually(t, 10*time.Second, "the banner", func() error {
			if out := p.stdout.String(); !strings.Contains(out, "Shoal is up.") || !strings.Contains(out, p.kubeconfig()) || !strings.Contains(out, "Dashboard: https://"+freeAPI+"/ui/") {
				return fmt.Errorf("it does not say Shoal is up, where the kubeconfig is and where the dashboard is:\n%s", out)
			}
			return nil
		})
		p.checkDashboardLogin(t)
	})

	t.Run("UpRunsPods", func(t *testing.T) {
		t.Parallel()
		testUpRunsPods(t, bin)
	})

	t.Run("UpRunsImages", func(t *testing.T) {
		t.Parallel()
		testUpImages(t, bin)
	})

	t.Run("UpInClusterClient", func(t *testing.T) {
		t.Parallel()
		testUpInCluster(t, bin)
	})

	t.Run("UpScalesOnCPU", func(t *testing.T) {
		t.Parallel()
		testUpHPA(t, bin)
	})

	t.Run("UpProxyUnderLoad", func(t *testing.T) {
		t.Parallel()
		testUpProxyUnderLoad(t, bin)
	})

	t.Run("ProxyOutlivesControlPlane", func(t *testing.T) {
		t.Parallel()
		testProxyOutlivesControlPlane(t, bin)
	})

	t.Run("Servers", func(t *testing.T) {
		t.Parallel()
		testServers(t, bin)
	})

	t.Run("ControlPlaneFailoverOnKill", func(t *testing.T) {
		t.Parallel()
		testFailoverOnKill(t, bin)
	})

	t.Run("KillLosesNothing", func(t *testing.T) {
		t.Parallel()
		dir, addrs := t.TempDir(), freeAddrs(t)
		p := startShoal(t, bin, dir, addrs)
		p.waitReady(t)
		cs := p.clientset(t)
		createObjects(t, cs)
		want := settledObjects(t, cs)

		p.signal(t, syscall.SIGKILL)
		if code := p.exit(t, exitTimeout); code != -1 {
			t.Fatalf("shoal exited with %d before SIGKILL took it", code)
		}
		p = startShoal(t, bin, dir, addrs)
		t.Logf("restarted after SIGKILL, ready in %v", p.waitReady(t).Round(time.Millisecond))
		cs = p.clientset(t)
		if diff := cmp.Diff(want, readObjects(t, cs)); diff != "" {
			t.Errorf("objects after SIGKILL and restart (-before +after):\n%s", diff)
		}
		// The ClusterIP claims survived too: the address is still taken.
		dup := service("dup", "")
		dup.Spec.ClusterIP = want["service/web"].ClusterIP
		_, err := cs.CoreV1().Services(testNS).Create(t.Context(), dup, metav1.CreateOptions{})
		if !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), "already allocated") {
			t.Errorf("create a service on web's ClusterIP after restart: err = %v, want Invalid: already allocated", err)
		}
	})

	t.Run("SecondUpOnSameDataDirFails", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		first := startShoal(t, bin, dir, freeAddrs(t))
		first.waitReady(t)

		// Other ports, so only the data dir is shared.
		second := startShoal(t, bin, dir, freeAddrs(t))
		if code := second.exit(t, exitTimeout); code <= 0 {
			t.Fatalf("second shoal up exited with %d, want non-zero", code)
		}
		if msg := second.stderr.String(); !strings.Contains(msg, "data directory is in use") {
			t.Errorf("second shoal up said %q, want it to mention that the data directory is in use", msg)
		}
		if err := first.readyz(); err != nil {
			t.Fatalf("first shoal after the second one failed: %v", err)
		}
		if _, err := first.clientset(t).CoreV1().Namespaces().List(t.Context(), metav1.ListOptions{}); err != nil {
			t.Fatalf("list namespaces on the first shoal: %v", err)
		}
	})

	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT} {
		t.Run("StopsCleanlyOn"+sigName(sig), func(t *testing.T) {
			t.Parallel()
			dir, addrs := t.TempDir(), freeAddrs(t)
			p := startShoal(t, bin, dir, addrs)
			p.waitReady(t)
			cs := p.clientset(t)
			createObjects(t, cs)
			want := settledObjects(t, cs)

			start := time.Now()
			p.signal(t, sig)
			if code := p.exit(t, exitTimeout); code != 0 {
				t.Fatalf("shoal exited with %d after %v, want 0", code, sig)
			}
			t.Logf("exited 0 %v after %v", time.Since(start).Round(time.Millisecond), sig)

			p = startShoal(t, bin, dir, addrs)
			p.waitReady(t)
			if diff := cmp.Diff(want, readObjects(t, p.clientset(t))); diff != "" {
				t.Errorf("objects after %v and restart (-before +after):\n%s", sig, diff)
			}
		})
	}

	t.Run("BadFlags", func(t *testing.T) {
		t.Parallel()
		for _, tc := range []struct {
			name string
			args []string
			want []string // all in stderr
		}{
			{"log level", []string{"--log-level", "nope"}, []string{"--log-level", `"nope"`}},
			{"service CIDR", []string{"--service-cidr", "10.96.0.0/33"}, []string{"service CIDR", `"10.96.0.0/33"`}},
			{"service CIDR not an address", []string{"--service-cidr", "banana"}, []string{"service CIDR", `"banana"`}},
			{"service CIDR too small", []string{"--service-cidr", "10.96.0.0/31"}, []string{"service CIDR", "/30 or larger"}},
			{"unknown flag", []string{"--no-such-flag"}, []string{"flag provided but not defined: -no-such-flag"}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				dir := filepath.Join(t.TempDir(), "data")
				p := startShoal(t, bin, dir, freeAddrs(t), tc.args...)
				if code := p.exit(t, exitTimeout); code <= 0 {
					t.Fatalf("shoal up %s exited with %d, want non-zero", strings.Join(tc.args, " "), code)
				}
				// Refused before anything was started or written.
				if _, err := os.Stat(dir); !errors.Is(err, fs.ErrNotExist) {
					t.Errorf("shoal up %s left %s behind (stat: %v)", strings.Join(tc.args, " "), dir, err)
				}
				msg := p.stderr.String()
				for _, w := range tc.want {
					if !strings.Contains(msg, w) {
						t.Errorf("shoal up %s said %q, want it to mention %q", strings.Join(tc.args, " "), msg, w)
					}
				}
			})
		}
	})
}

const testNS = "e2e"

// objectState is what must survive a restart unchanged.
type objectState struct {
	UID, ResourceVersion string
	ClusterIP            string
	ClusterIPs           []string
}

func meta(m metav1.Object) objectState {
	return objectState{UID: string(m.GetUID()), ResourceVersion: m.GetResourceVersion()}
}

func svcState(s *corev1.Service) objectState {
	st := meta(s)
	st.ClusterIP, st.ClusterIPs = s.Spec.ClusterIP, s.Spec.ClusterIPs
	return st
}

func service(name, clusterIP string) *corev1.Service {
	return &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"app": name}},
		Spec: corev1.ServiceSpec{
			ClusterIP: clusterIP,
			Selector:  map[string]string{"app": name},
			Ports:     []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromInt32(8080)}},
		},
	}
}

// createObjects creates a namespace, services (an allocated ClusterIP, a
// requested one, a headless one) and a deployment, and updates one of them.
func createObjects(t *testing.T, cs kubernetes.Interface) {
	t.Helper()
	ctx := t.Context()
	if _, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: testNS}}, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create namespace: %v", err)
	}
	for _, s := range []*corev1.Service{service("web", ""), service("dns", "10.96.0.53"), service("headless", corev1.ClusterIPNone)} {
		if _, err := cs.CoreV1().Services(testNS).Create(ctx, s, metav1.CreateOptions{}); err != nil {
			t.Fatalf("create service %s: %v", s.Name, err)
		}
	}
	// An update must be as durable as a create.
	web, err := cs.CoreV1().Services(testNS).Get(ctx, "web", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("get service web: %v", err)
	}
	if web.Spec.ClusterIP == "" {
		t.Fatalf("service web got no ClusterIP")
	}
	web.Labels["tier"] = "frontend"
	if _, err := cs.CoreV1().Services(testNS).Update(ctx, web, metav1.UpdateOptions{}); err != nil {
		t.Fatalf("update service web: %v", err)
	}

	replicas := int32(2)
	labels := map[string]string{"app": "web"}
	_, err = cs.AppsV1().Deployments(testNS).Create(ctx, &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec: appsv1.DeploymentSpec{
			Replicas: &replicas,
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "web", Image: "nginx:1.27"}}},
			},
		},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create deployment: %v", err)
	}
}

// settledObjects reads the objects until two reads a moment apart agree, so
// that controllers writing status have finished before the process stops.
func settledObjects(t *testing.T, cs kubernetes.Interface) map[string]objectState {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	prev := readObjects(t, cs)
	for {
		time.Sleep(250 * time.Millisecond)
		cur := readObjects(t, cs)
		if cmp.Equal(prev, cur) {
			return cur
		}
		if time.Now().After(deadline) {
			t.Fatalf("objects still changing after 15s:\n%s", cmp.Diff(prev, cur))
		}
		prev = cur
	}
}

// readObjects reads back what createObjects created.
func readObjects(t *testing.T, cs kubernetes.Interface) map[string]objectState {
	t.Helper()
	ctx := t.Context()
	got := map[string]objectState{}
	ns, err := cs.CoreV1().Namespaces().Get(ctx, testNS, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("get namespace: %v", err)
	}
	got["namespace/"+testNS] = meta(ns)
	for _, name := range []string{"web", "dns", "headless"} {
		svc, err := cs.CoreV1().Services(testNS).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			t.Fatalf("get service %s: %v", name, err)
		}
		got["service/"+name] = svcState(svc)
	}
	d, err := cs.AppsV1().Deployments(testNS).Get(ctx, "web", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("get deployment: %v", err)
	}
	got["deployment/web"] = meta(d)
	k, err := cs.CoreV1().Services(metav1.NamespaceDefault).Get(ctx, "kubernetes", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("get the kubernetes service: %v", err)
	}
	got["service/default/kubernetes"] = svcState(k)
	return got
}

func sigName(s syscall.Signal) string {
	switch s {
	case syscall.SIGTERM:
		return "SIGTERM"
	case syscall.SIGINT:
		return "SIGINT"
	}
	return s.String()
}
