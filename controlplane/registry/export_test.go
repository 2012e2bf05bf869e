package registry

import (
	"syscall"
	"testing"
	"time"
)

// Untracked makes r write without recording managedFields, for
// BenchmarkWrites' comparison.
func Untracked(r *Registry) { r.untracked = true }

// ReportCPU reports the CPU time the whole process (the embedded etcd
// included) spent per operation since start, the benchmarks' measure that
// other work on the machine does not inflate as it does wall time.
func ReportCPU(b *testing.B, start time.Duration) {
	b.ReportMetric(float64((ProcessCPU()-start).Microseconds())/float64(b.N), "cpu-µs/op")
}

// ProcessCPU is the user and system CPU time of the process so far.
func ProcessCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
