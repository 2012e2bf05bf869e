package main

import (
	"context"
	"fmt"
	"regexp"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// coldResult is one cold pull: create → Running and Ready, and the pull
// itself as the agent's Pulled event reports it.
type coldResult struct {
	image     string
	ready     time.Duration
	pull      string
	imageSize string
}

var pulledEvent = regexp.MustCompile(`in ([0-9.]+s) \(.*\)\. Image size: ([0-9]+) bytes`)

// coldPull runs one pod of ref, an image no node has, and times it.
func (h *harness) coldPull(ctx context.Context, ref string) (coldResult, error) {
	res := coldResult{image: ref}
	c := corev1.Container{Image: ref, ImagePullPolicy: corev1.PullIfNotPresent}
	pod := h.pod("cold-pull", c)
	start := time.Now()
	if _, err := h.cs.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		return res, err
	}
	deadline := time.Now().Add(2 * time.Minute)
	for {
		h.mu.Lock()
		t, ok := h.ready[pod.Name]
		h.mu.Unlock()
		if ok {
			res.ready = t.Sub(start)
			break
		}
		if time.Now().After(deadline) {
			return res, fmt.Errorf("cold pull: pod not ready after 2 minutes")
		}
		time.Sleep(20 * time.Millisecond)
	}
	evs, err := h.cs.CoreV1().Events(ns).List(ctx, metav1.ListOptions{FieldSelector: "involvedObject.name=" + pod.Name})
	if err != nil {
		return res, err
	}
	for _, e := range evs.Items {
		if m := pulledEvent.FindStringSubmatch(e.Message); e.Reason == "Pulled" && m != nil {
			res.pull, res.imageSize = m[1], m[2]
		}
	}
	return res, h.cs.CoreV1().Pods(ns).Delete(ctx, pod.Name, metav1.DeleteOptions{})
}
