// Command deployment times the Deployment, ReplicaSet and garbage-collector
// controllers reconciling a large Deployment from zero: from the Deployment's
// create until all its pods exist, then, after every pod is reported ready
// in bulk (as node agents would), until the Deployment's status counts them
// all available. Everything runs in one process on one embedded etcd; it
// prints a Markdown table.
//
//	go run ./test/bench/deployment [-replicas 1000] [-writers 32]
package main

import (
	"github.com/shoalmesh/shoal/test/bench/benchenv"

	"context"
	"flag"
	"fmt"
	"io"
	"log"
	"log/slog"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/watch"

	"github.com/shoalmesh/shoal/controlplane/controller"
	"github.com/shoalmesh/shoal/controlplane/controllers/deployment"
	"github.com/shoalmesh/shoal/controlplane/controllers/gc"
	"github.com/shoalmesh/shoal/controlplane/controllers/replicaset"
	"github.com/shoalmesh/shoal/controlplane/registry"
	"github.com/shoalmesh/shoal/controlplane/store"
)

func main() {
	replicas := flag.Int("replicas", 1000, "replicas of the Deployment")
	writers := flag.Int("writers", 32, "concurrent pods/status writers that mark the pods ready")
	dataDir := flag.String("data-dir", "", "where to put etcd's data (a fresh temporary directory in it); default the system's temp dir")
	flag.Parse()
	if *replicas < 1 || *writers < 1 {
		log.Fatal("deployment: -replicas and -writers must be at least 1")
	}
	if err := run(os.Stdout, int32(*replicas), *writers, *dataDir); err != nil {
		log.Fatal("deployment: ", err)
	}
}

func run(w io.Writer, replicas int32, writers int, dataDir string) error {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	env, err := benchenv.Start(dataDir, "shoal-bench-deployment-")
	if err != nil {
		return err
	}
	defer env.Close()
	if err := env.StartRegistry(ctx); err != nil {
		return err
	}
	reg, caches := env.Registry, env.Caches
	quiet := slog.New(slog.DiscardHandler)
	events := controller.NewRecorder(reg, "controller-manager", quiet)
	go events.Run(ctx)
	deps := controller.Deps{Registry: reg, Caches: caches, Events: events, Log: quiet}
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	wg.Go(func() {
		controller.Run(ctx, replicaset.New(deps), deployment.New(deps), gc.New(deps))
	})
	if err := caches.WaitSynced(ctx, registry.Namespaces.Resource, registry.Deployments.Resource,
		registry.ReplicaSets.Resource, registry.Pods.Resource); err != nil {
		return err
	}

	// The observer counts the Deployment's pods in a cache of its own, as a
	// watching client would.
	podCache := store.NewCache(reg.Store, registry.Pods.Resource, nil)
	go podCache.Run(ctx)
	if err := podCache.WaitSynced(ctx); err != nil {
		return err
	}
	var created atomic.Int32
	allCreated := make(chan struct{})
	defer podCache.Subscribe(func(e store.Event) {
		if e.Type == watch.Added && e.Object.GetLabels()["app"] == "bench" && created.Add(1) == replicas {
			close(allCreated)
		}
	})()

	lbls := map[string]string{"app": "bench"}
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "bench"},
		Spec: appsv1.DeploymentSpec{
			Replicas: &replicas,
			Selector: &metav1.LabelSelector{MatchLabels: lbls},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: lbls},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Command: []string{"/bin/app"}}}},
			},
		},
	}
	start := time.Now()
	if _, err := reg.Create(ctx, registry.Deployments, d, registry.WriteOptions{}); err != nil {
		return fmt.Errorf("create deployment: %w", err)
	}
	select {
	case <-allCreated:
	case <-time.After(5 * time.Minute):
		return fmt.Errorf("only %d of %d pods created after 5 minutes", created.Load(), replicas)
	}
	toCreated := time.Since(start)

	readyStart := time.Now()
	pods := podCache.List("default", store.Predicate{Label: labels.SelectorFromSet(lbls)})
	if err := markReady(ctx, reg, pods, writers); err != nil {
		return err
	}
	toMarked := time.Since(readyStart)
	var last *appsv1.Deployment
	for {
		o, err := reg.Store.Get(ctx, registry.Deployments.Resource, "default", "bench")
		if err != nil {
			return err
		}
		last = o.(*appsv1.Deployment)
		if last.Status.AvailableReplicas == replicas {
			break
		}
		if time.Since(readyStart) > 5*time.Minute {
			return fmt.Errorf("status.availableReplicas %d of %d after 5 minutes", last.Status.AvailableReplicas, replicas)
		}
		time.Sleep(2 * time.Millisecond)
	}
	toAvailable := time.Since(readyStart)

	fmt.Fprintf(w, "Deployment of %d replicas reconciled from zero (embedded etcd, %d CPUs, %s)\n\n", replicas, runtime.NumCPU(), runtime.Version())
	fmt.Fprintln(w, "| step | time |")
	fmt.Fprintln(w, "|---|---:|")
	fmt.Fprintf(w, "| Deployment created → all %d pods exist | %s |\n", replicas, round(toCreated))
	fmt.Fprintf(w, "| %d pods marked ready (%d pods/status writers) | %s |\n", replicas, writers, round(toMarked))
	fmt.Fprintf(w, "| first ready write → status.availableReplicas = %d | %s |\n", replicas, round(toAvailable))
	fmt.Fprintf(w, "| total | %s |\n", round(toCreated+toAvailable))
	return nil
}

func markReady(ctx context.Context, reg *registry.Registry, pods []store.Object, writers int) error {
	work := make(chan int)
	errs := make([]error, writers)
	var wg sync.WaitGroup
	for i := range writers {
		wg.Go(func() {
			for j := range work {
				if errs[i] != nil {
					continue
				}
				p := pods[j]
				ip := fmt.Sprintf("10.244.%d.%d", j/250, 1+j%250)
				_, errs[i] = reg.Update(ctx, registry.Pods, p.GetNamespace(), p.GetName(), "status", func(cur store.Object) (store.Object, error) {
					pod := cur.(*corev1.Pod)
					pod.Status.Phase = corev1.PodRunning
					pod.Status.PodIP = ip
					pod.Status.PodIPs = []corev1.PodIP{{IP: ip}}
					pod.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: metav1.Now()}}
					pod.ResourceVersion = ""
					return pod, nil
				}, registry.WriteOptions{})
			}
		})
	}
	for j := range pods {
		work <- j
	}
	close(work)
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return fmt.Errorf("mark pods ready: %w", err)
		}
	}
	return nil
}

func round(d time.Duration) time.Duration {
	if d > time.Second {
		return d.Round(time.Millisecond)
	}
	return d.Round(10 * time.Microsecond)
}
