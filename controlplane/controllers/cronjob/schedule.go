package cronjob

import (
	"errors"
	"fmt"
	"time"

	"github.com/robfig/cron/v3"
	batchv1 "k8s.io/api/batch/v1"

	"github.com/shoalmesh/shoal/controlplane/registry"
)

// When a CronJob's Jobs are due, as Kubernetes' cronjob utils.go computes
// it.

// nextDelta is how long after a scheduled time the CronJob is synced, so
// that the time has surely come.
const nextDelta = 100 * time.Millisecond

// tooManyMissed is how many missed schedules make the controller warn: a
// wrong clock, or a controller down for long.
const tooManyMissed = 100

// schedule parses the CronJob's schedule in its time zone (UTC by default).
func schedule(cj *batchv1.CronJob) (cron.Schedule, error) {
	s := cj.Spec.Schedule
	if cj.Spec.TimeZone != nil {
		if _, err := time.LoadLocation(*cj.Spec.TimeZone); err != nil {
			return nil, fmt.Errorf("invalid timeZone %q: %w", *cj.Spec.TimeZone, err)
		}
		s = "TZ=" + *cj.Spec.TimeZone + " " + s
	}
	return registry.ParseSchedule(s)
}

// mostRecent returns the time from which schedules are due (the last
// schedule, the creation, or with includeDeadline the start of the
// starting deadline), the most recent due schedule at or before now (nil
// if none is due), and how many schedules are due.
func mostRecent(cj *batchv1.CronJob, now time.Time, sched cron.Schedule, includeDeadline bool) (time.Time, *time.Time, int64, error) {
	earliest := cj.CreationTimestamp.Time
	if t := cj.Status.LastScheduleTime; t != nil {
		earliest = t.Time
	}
	if d := cj.Spec.StartingDeadlineSeconds; includeDeadline && d != nil {
		if deadline := now.Add(-time.Duration(*d) * time.Second); deadline.After(earliest) {
			earliest = deadline
		}
	}
	t1 := sched.Next(earliest)
	if t1.IsZero() || now.Before(t1) {
		return earliest, nil, 0, nil
	}
	t2 := sched.Next(t1)
	if now.Before(t2) {
		return earliest, &t1, 1, nil
	}
	step := int64(t2.Sub(t1).Round(time.Second).Seconds())
	if step < 1 {
		return earliest, nil, 0, errors.New("time difference between two schedules is less than 1 second")
	}
	// How many are due, estimated from the first interval; the most recent
	// one found by walking the schedule, from no further back than a
	// thousand intervals, so that years of missed minutes take no time.
	missed := int64(now.Sub(t1).Seconds())/step + 1
	from := t1
	if missed > 1000 {
		from = sched.Next(now.Add(-time.Duration(1000*step) * time.Second))
	}
	recent := from
	for t := from; !t.IsZero() && !t.After(now); t = sched.Next(t) {
		recent = t
	}
	return earliest, &recent, missed, nil
}

// nextIn is how long until the schedule after the most recent due one.
func nextIn(cj *batchv1.CronJob, now time.Time, sched cron.Schedule) time.Duration {
	earliest, recent, _, err := mostRecent(cj, now, sched, false)
	if err != nil {
		return time.Minute
	}
	if recent == nil {
		recent = &earliest
	}
	return sched.Next(*recent).Add(nextDelta).Sub(now)
}

// jobName is the name of the Job of a scheduled time: the CronJob's name
// and the time in minutes, so that one time never makes two Jobs.
func jobName(cj *batchv1.CronJob, at time.Time) string {
	return fmt.Sprintf("%s-%d", cj.Name, at.Unix()/60)
}
