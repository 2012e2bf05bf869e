package cronjob

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/shoalmesh/shoal/controlplane/controller"
	"github.com/shoalmesh/shoal/controlplane/controllers/controllertest"
	"github.com/shoalmesh/shoal/controlplane/registry"
	"github.com/shoalmesh/shoal/controlplane/store"
)

func mustSchedule(t *testing.T, s string, tz *string) *batchv1.CronJob {
	t.Helper()
	return &batchv1.CronJob{Spec: batchv1.CronJobSpec{Schedule: s, TimeZone: tz}}
}

func TestMostRecent(t *testing.T) {
	created := time.Date(2026, 5, 4, 10, 0, 30, 0, time.UTC)
	for _, tc := range []struct {
		name     string
		schedule string
		tz       *string
		last     *time.Time
		deadline *int64
		now      time.Time
		want     string // RFC3339 or "" for none due
		missed   int64
	}{
		{"not yet", "*/5 * * * *", nil, nil, nil, created.Add(time.Minute), "", 0},
		{"one due", "*/5 * * * *", nil, nil, nil, created.Add(5 * time.Minute), "2026-05-04T10:05:00Z", 1},
		{"several due: the latest", "*/5 * * * *", nil, nil, nil, created.Add(17 * time.Minute), "2026-05-04T10:15:00Z", 3},
		{"after the last schedule", "*/5 * * * *", nil, new(time.Date(2026, 5, 4, 10, 15, 0, 0, time.UTC)), nil, created.Add(17 * time.Minute), "", 0},
		{"hourly", "@hourly", nil, nil, nil, created.Add(3 * time.Hour), "2026-05-04T13:00:00Z", 3},
		{"weekdays over a weekend", "0 9 * * 1-5", nil, nil, nil, time.Date(2026, 5, 11, 8, 0, 0, 0, time.UTC), "2026-05-08T09:00:00Z", 6}, // the count is estimated from the first interval, as Kubernetes does
		{"years of minutes", "* * * * *", nil, nil, nil, created.Add(3 * 365 * 24 * time.Hour), "2029-05-03T10:00:00Z", 1576800},
		{"starting deadline cuts the past", "*/5 * * * *", nil, nil, new(int64(180)), created.Add(17 * time.Minute), "2026-05-04T10:15:00Z", 1},
		{"nothing within the deadline", "*/5 * * * *", nil, nil, new(int64(120)), created.Add(17 * time.Minute), "", 0},
		{"in a time zone", "0 9 * * *", new("Europe/Berlin"), nil, nil, time.Date(2026, 5, 5, 8, 0, 0, 0, time.UTC), "2026-05-05T07:00:00Z", 1}, // 9:00 in Berlin
	} {
		t.Run(tc.name, func(t *testing.T) {
			cj := mustSchedule(t, tc.schedule, tc.tz)
			cj.CreationTimestamp = metav1.NewTime(created)
			cj.Spec.StartingDeadlineSeconds = tc.deadline
			if tc.last != nil {
				cj.Status.LastScheduleTime = &metav1.Time{Time: *tc.last}
			}
			sched, err := schedule(cj)
			if err != nil {
				t.Fatal(err)
			}
			_, due, missed, err := mostRecent(cj, tc.now, sched, true)
			if err != nil {
				t.Fatal(err)
			}
			got := ""
			if due != nil {
				got = due.UTC().Format(time.RFC3339)
			}
			if got != tc.want || missed != tc.missed {
				t.Errorf("due %q (%d due); want %q (%d)", got, missed, tc.want, tc.missed)
			}
		})
	}
	cj := &batchv1.CronJob{ObjectMeta: metav1.ObjectMeta{Name: "backup"}}
	if got := jobName(cj, time.Date(2026, 5, 4, 10, 5, 0, 0, time.UTC)); got != "backup-29631485" {
		t.Errorf("job name %q", got)
	}
}

// clock is the controller's clock, moved by the test.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

type env struct {
	*controllertest.Env
	clock *clock
}

func newEnv(t *testing.T) env {
	e := env{Env: controllertest.New(t), clock: &clock{t: time.Now()}}
	e.Start(func(d controller.Deps) []controller.Controller {
		return []controller.Controller{New(d, Config{Now: e.clock.Now})}
	})
	return e
}

func newCronJob(name string, edit func(*batchv1.CronJob)) *batchv1.CronJob {
	cj := &batchv1.CronJob{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: name},
		Spec: batchv1.CronJobSpec{Schedule: "* * * * *", JobTemplate: batchv1.JobTemplateSpec{
			ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": name}},
			Spec: batchv1.JobSpec{Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{RestartPolicy: corev1.RestartPolicyNever,
				Containers: []corev1.Container{{Name: "c", Command: []string{"/bin/date"}}}}}}}},
	}
	if edit != nil {
		edit(cj)
	}
	return cj
}

// tick moves the clock on and has the CronJob looked at (as its queued
// wake-up would at that time).
func (e env) tick(name string, d time.Duration) {
	e.T.Helper()
	e.clock.advance(d)
	_, err := e.Reg.Update(e.Ctx, registry.CronJobs, "default", name, "", func(cur store.Object) (store.Object, error) {
		a := cur.GetAnnotations()
		if a == nil {
			a = map[string]string{}
		}
		a["test/tick"] = e.clock.Now().Format(time.RFC3339Nano)
		cur.SetAnnotations(a)
		cur.SetResourceVersion("")
		return cur, nil
	}, registry.WriteOptions{})
	if err != nil {
		e.T.Fatal(err)
	}
}

// jobs is the names of the stored Jobs of cronjob, sorted.
func (e env) jobs(cronjob string) []string {
	e.T.Helper()
	var out []string
	for _, o := range e.List(registry.Jobs, cronjob) {
		out = append(out, o.GetName())
	}
	sort.Strings(out)
	return out
}

func (e env) waitJobs(cronjob string, n int) []string {
	e.T.Helper()
	var names []string
	controllertest.Eventually(e.T, fmt.Sprintf("%d jobs of %s", n, cronjob), func() (bool, string) {
		names = e.jobs(cronjob)
		return len(names) == n, fmt.Sprint(names)
	})
	return names
}

func (e env) cronJob(name string) *batchv1.CronJob {
	e.T.Helper()
	o, err := e.Reg.Store.Get(e.Ctx, registry.CronJobs.Resource, "default", name)
	if err != nil {
		e.T.Fatal(err)
	}
	return o.(*batchv1.CronJob)
}

// complete marks a Job finished, as the job controller would.
func (e env) complete(name string, how batchv1.JobConditionType) {
	e.T.Helper()
	_, err := e.Reg.Update(e.Ctx, registry.Jobs, "default", name, "status", func(cur store.Object) (store.Object, error) {
		j := cur.(*batchv1.Job)
		now := metav1.NewTime(e.clock.Now())
		j.Status.StartTime = &now
		if how == batchv1.JobComplete {
			j.Status.CompletionTime = &now
		}
		j.Status.Conditions = append(j.Status.Conditions, batchv1.JobCondition{Type: how, Status: corev1.ConditionTrue, LastTransitionTime: now})
		j.ResourceVersion = ""
		return j, nil
	}, registry.WriteOptions{})
	if err != nil {
		e.T.Fatal(err)
	}
}

func (e env) waitEvent(obj store.Object, reason, prefix string) {
	e.T.Helper()
	controllertest.Eventually(e.T, "a "+reason+" event", func() (bool, string) {
		msgs := e.Events(obj, reason)
		return slices.ContainsFunc(msgs, func(m string) bool { return strings.HasPrefix(m, prefix) }), fmt.Sprint(msgs)
	})
}

// Every minute a Job, named for its minute and annotated with its time,
// listed as active until it finishes; Forbid skips a minute while one runs.
func TestCronJobSchedulesJobs(t *testing.T) {
	e := newEnv(t)
	cj := e.Create(registry.CronJobs, newCronJob("tick", func(c *batchv1.CronJob) { c.Spec.ConcurrencyPolicy = batchv1.ForbidConcurrent }))
	e.tick("tick", time.Minute+time.Second)
	first := e.waitJobs("tick", 1)[0]
	controllertest.Eventually(t, "the job active in the status", func() (bool, string) {
		s := e.cronJob("tick").Status
		return len(s.Active) == 1 && s.Active[0].Name == first && s.LastScheduleTime != nil, fmt.Sprintf("%+v", s)
	})
	o, err := e.Reg.Store.Get(e.Ctx, registry.Jobs.Resource, "default", first)
	if err != nil {
		t.Fatal(err)
	}
	due := e.cronJob("tick").Status.LastScheduleTime.Time
	if want := fmt.Sprintf("tick-%d", due.Unix()/60); first != want {
		t.Errorf("job %s; want %s", first, want)
	}
	if got := o.GetAnnotations()[batchv1.CronJobScheduledTimestampAnnotation]; got != due.UTC().Format(time.RFC3339) {
		t.Errorf("scheduled-timestamp annotation %q; want %s", got, due.UTC().Format(time.RFC3339))
	}
	if !metav1.IsControlledBy(o, cj) {
		t.Errorf("job %s not controlled by the cronjob: %+v", first, o.GetOwnerReferences())
	}
	// Forbid: the next minute comes while the first runs.
	e.tick("tick", time.Minute)
	e.waitEvent(cj, "JobAlreadyActive", "Not starting job because prior execution is running")
	if n := len(e.jobs("tick")); n != 1 {
		t.Errorf("%d jobs under Forbid with one running; want 1", n)
	}
	e.complete(first, batchv1.JobComplete)
	e.waitEvent(cj, "SawCompletedJob", "Saw completed job: "+first+", condition: Complete")
	e.tick("tick", time.Minute)
	e.waitJobs("tick", 2)
	// The status write that records the finished job may come after the
	// next job is created: wait for it rather than read once.
	controllertest.Eventually(t, "a lastSuccessfulTime and the finished job no longer active", func() (bool, string) {
		s := e.cronJob("tick").Status
		return s.LastSuccessfulTime != nil && !slices.ContainsFunc(s.Active, func(r corev1.ObjectReference) bool { return r.Name == first }), fmt.Sprintf("%+v", s)
	})
}

// Replace deletes the running Job for the new one; the history limits keep
// the newest finished Jobs only.
func TestCronJobReplaceAndHistory(t *testing.T) {
	e := newEnv(t)
	cj := e.Create(registry.CronJobs, newCronJob("rep", func(c *batchv1.CronJob) {
		c.Spec.ConcurrencyPolicy = batchv1.ReplaceConcurrent
		c.Spec.SuccessfulJobsHistoryLimit, c.Spec.FailedJobsHistoryLimit = new(int32(1)), new(int32(0))
	}))
	e.tick("rep", time.Minute+time.Second)
	first := e.waitJobs("rep", 1)[0]
	e.tick("rep", time.Minute)
	e.waitEvent(cj, "SuccessfulDelete", "Deleted job "+first)
	second := e.waitJobs("rep", 1)[0]
	if second == first {
		t.Fatalf("job %s not replaced", first)
	}
	e.complete(second, batchv1.JobComplete)
	e.tick("rep", time.Minute)
	third := slices.DeleteFunc(e.waitJobs("rep", 2), func(n string) bool { return n == second })[0]
	e.complete(third, batchv1.JobComplete)
	// Two succeeded, a limit of 1: the older goes.
	controllertest.Eventually(t, "the older succeeded job deleted", func() (bool, string) {
		names := e.jobs("rep")
		return slices.Equal(names, []string{third}), fmt.Sprint(names)
	})
	e.tick("rep", time.Minute)
	fourth := slices.DeleteFunc(e.waitJobs("rep", 2), func(n string) bool { return n == third })[0]
	e.complete(fourth, batchv1.JobFailed)
	// A failed limit of 0: it goes at once.
	controllertest.Eventually(t, "the failed job deleted", func() (bool, string) {
		names := e.jobs("rep")
		return slices.Equal(names, []string{third}), fmt.Sprint(names)
	})
}

// A suspended CronJob makes no Jobs; a schedule missed by more than the
// starting deadline is skipped (as in Kubernetes, silently: the controller
// looks no further back than the deadline), the next one is run.
func TestCronJobSuspendAndDeadline(t *testing.T) {
	e := newEnv(t)
	e.Create(registry.CronJobs, newCronJob("off", func(c *batchv1.CronJob) { c.Spec.Suspend = new(true) }))
	e.Create(registry.CronJobs, newCronJob("late", func(c *batchv1.CronJob) {
		c.Spec.Schedule = "0 * * * *"
		c.Spec.StartingDeadlineSeconds = new(int64(10))
	}))
	now := e.clock.Now()
	missed := now.Truncate(time.Hour).Add(time.Hour)
	e.tick("off", missed.Sub(now)+time.Minute) // a minute late for the hour
	e.tick("late", 0)
	e.tick("late", time.Hour-time.Minute+5*time.Second) // 5 s into the next hour
	e.tick("off", 0)
	want := fmt.Sprintf("late-%d", missed.Add(time.Hour).Unix()/60)
	controllertest.Eventually(t, "the next hour's job", func() (bool, string) {
		names := e.jobs("late")
		return slices.Equal(names, []string{want}), fmt.Sprint(names)
	})
	if names := e.jobs("off"); len(names) != 0 {
		t.Errorf("suspended cronjob made jobs %v", names)
	}
}
