package runtime

import (
	"syscall"
	"testing"
	"time"
)

func TestCPULimit(t *testing.T) {
	e := newTestRuntime(t)
	spec := e.spec(t, "main", "sh", "-c", "while :; do :; done")
	spec.CPUMillis = 100
	c := e.start(t, spec)
	s0, err := c.Stats()
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Now()
	time.Sleep(1500 * time.Millisecond) // the quantity measured is a rate over time
	s1, err := c.Stats()
	if err != nil {
		t.Fatal(err)
	}
	cores := float64(s1.CPU-s0.CPU) / float64(time.Since(t0))
	t.Logf("busy loop limited to 100m used %.3f cores", cores)
	if cores > 0.15 {
		t.Errorf("busy loop under a 100m limit used %.3f cores", cores)
	}
	if cores <= 0 {
		t.Errorf("no CPU use measured")
	}
	if s1.MemoryUsage == 0 || s1.MemoryWorkingSet > s1.MemoryUsage {
		t.Errorf("memory stats %+v", s1)
	}
}

func TestMemoryLimitOOMKilled(t *testing.T) {
	e := newTestRuntime(t)
	// tail buffers /dev/zero looking for a line end that never comes.
	spec := e.spec(t, "main", "tail", "/dev/zero")
	spec.MemoryBytes = 48 << 20
	c := e.start(t, spec)
	st := wait(t, c)
	if !st.OOMKilled || st.Reason() != "OOMKilled" || st.Signal != syscall.SIGKILL || st.Code != 137 {
		t.Errorf("status %+v (%s), want OOMKilled by SIGKILL", st, st.Reason())
	}
}

func TestStatsOfExited(t *testing.T) {
	e := newTestRuntime(t)
	c := e.start(t, e.spec(t, "main", "true"))
	wait(t, c)
	if _, err := c.Stats(); err != ErrNotRunning {
		t.Errorf("stats of an exited container: %v", err)
	}
}
