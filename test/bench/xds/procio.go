package main

import (
	"fmt"
	"os"
	"strconv"
	"strings"
)

// procIO is a process's I/O counters from /proc/<pid>/io (every thread,
// living or gone): read and write system calls, and bytes written to
// files and sockets. System calls cost the same whether or not the
// machine is busy, so a change's count is a steadier measure of its cost
// than its time.
type procIO struct{ reads, writes, written int64 }

func readProcIO(pid int) procIO {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/io", pid))
	if err != nil {
		return procIO{}
	}
	var io procIO
	for _, l := range strings.Split(string(b), "\n") {
		k, v, ok := strings.Cut(l, ": ")
		if !ok {
			continue
		}
		n, _ := strconv.ParseInt(v, 10, 64)
		switch k {
		case "syscr":
			io.reads = n
		case "syscw":
			io.writes = n
		case "wchar":
			io.written = n
		}
	}
	return io
}

func (a procIO) minus(b procIO) procIO {
	return procIO{a.reads - b.reads, a.writes - b.writes, a.written - b.written}
}
