package api

import (
	"strconv"

	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	"k8s.io/apimachinery/pkg/fields"
)

// The workload resources beyond Deployments: batch Jobs and CronJobs, and
// HorizontalPodAutoscalers. Their etcd prefixes are Kubernetes'.
var (
	Jobs = &Info{Resource: &Resource{
		GroupVersion: batchv1.SchemeGroupVersion, Kind: "Job", Name: "jobs", Namespaced: true, Prefix: "/registry/jobs/",
		New: func() Object { return &batchv1.Job{} },
		Fields: func(o Object) fields.Set {
			return fields.Set{"status.successful": strconv.Itoa(int(o.(*batchv1.Job).Status.Succeeded))}
		},
	}, ListKind: "JobList", Categories: []string{"all"}, Singular: "job", Status: true}

	CronJobs = &Info{Resource: &Resource{
		GroupVersion: batchv1.SchemeGroupVersion, Kind: "CronJob", Name: "cronjobs", Namespaced: true, Prefix: "/registry/cronjobs/",
		New: func() Object { return &batchv1.CronJob{} },
	}, ListKind: "CronJobList", ShortNames: []string{"cj"}, Categories: []string{"all"}, Singular: "cronjob", Status: true}

	// HorizontalPodAutoscalers are stored as autoscaling/v2; the API
	// server serves autoscaling/v1 too, converted, as Kubernetes does.
	HorizontalPodAutoscalers = &Info{Resource: &Resource{
		GroupVersion: autoscalingv2.SchemeGroupVersion, Kind: "HorizontalPodAutoscaler", Name: "horizontalpodautoscalers",
		Namespaced: true, Prefix: "/registry/horizontalpodautoscalers/",
		New: func() Object { return &autoscalingv2.HorizontalPodAutoscaler{} },
	}, ListKind: "HorizontalPodAutoscalerList", ShortNames: []string{"hpa"}, Categories: []string{"all"},
		Singular: "horizontalpodautoscaler", Status: true}
)

// Workloads are the resources of this file, in discovery order.
var Workloads = []*Info{Jobs, CronJobs, HorizontalPodAutoscalers}
