// Command incluster is a client-go program for tests that run it in a pod
// (built CGO_ENABLED=0 by test/imagetest): with rest.InClusterConfig (the
// pod's ServiceAccount token and ca.crt, KUBERNETES_SERVICE_HOST/PORT) it
// lists the pods of its own namespace (read from the ServiceAccount
// volume) every INTERVAL (a Go duration, default 1s) and prints one line
// per attempt:
//
//	ok <number of pods>
//	forbidden: <the API server's message>
//	error: <anything else>
//
// A missing in-cluster config is printed as an error and retried too, so
// the pod's log says what went wrong.
package main

import (
	"context"
	"fmt"
	"os"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

const namespaceFile = "/var/run/secrets/kubernetes.io/serviceaccount/namespace"

func main() {
	interval := time.Second
	if s := os.Getenv("INTERVAL"); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil {
			fmt.Fprintf(os.Stderr, "incluster: INTERVAL: %v\n", err)
			os.Exit(2)
		}
		interval = d
	}
	for {
		fmt.Println(attempt())
		time.Sleep(interval)
	}
}

// attempt lists the pods of the pod's namespace once and says how it went.
func attempt() string {
	b, err := os.ReadFile(namespaceFile)
	if err != nil {
		return "error: " + err.Error()
	}
	ns := strings.TrimSpace(string(b))
	cfg, err := rest.InClusterConfig()
	if err != nil {
		return "error: in-cluster config: " + err.Error()
	}
	cfg.Timeout = 5 * time.Second
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return "error: " + err.Error()
	}
	pods, err := cs.CoreV1().Pods(ns).List(context.Background(), metav1.ListOptions{})
	switch {
	case apierrors.IsForbidden(err):
		return "forbidden: " + err.Error()
	case err != nil:
		return "error: " + err.Error()
	}
	return fmt.Sprintf("ok %d", len(pods.Items))
}
