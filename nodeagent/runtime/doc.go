// Package runtime is the node agent's container runtime: it runs each
// container of a pod as a process in its own mount, UTS, IPC and PID
// namespaces, in the pod's network namespace (or the node's, for
// hostNetwork), under a cgroup with the container's CPU and memory limits,
// with its stdout and stderr in rotated log files; and it takes over the
// containers of a previous agent after a restart.
//
// There are no images: a container runs a program of the node's file
// system, which it sees whole, except for the files bind-mounted over it
// (the pod's /etc/resolv.conf and /etc/hosts) and a /proc of its own PID
// namespace.
//
// # Wiring
//
// Each container's init is the agent's own binary re-executed (as with
// runc's nsexec or moby's reexec), because a Go child cannot be started
// inside an existing network namespace. So every binary that starts
// containers must call Init first thing in main, and so must the TestMain
// of every package whose tests start containers:
//
//	func main() {
//		runtime.Init() // returns at once unless this process is a container init
//		...
//	}
//
//	func TestMain(m *testing.M) {
//		runtime.Init()
//		os.Exit(m.Run())
//	}
//
// # The init
//
// The init is PID 1 of the container's PID namespace and stays so, like
// tini or docker run --init: it forwards SIGTERM and the other usual signals
// to the command, reaps orphaned processes, copies the command's output to
// the log, and exits with the command's status once it has killed what
// the command left behind. A command that has no SIGTERM handler therefore
// dies of SIGTERM, as users of Kubernetes expect, instead of ignoring it as
// a PID 1 would; one that traps or ignores it gets its grace period, then
// Stop's SIGKILL ends the whole namespace. The init waits until the agent
// has put it into the container's cgroup before it does anything, so no
// user code runs outside the limits, and records the command's exit status
// in the state directory, so an agent that restarted meanwhile still learns
// it. It has no tie to the agent: containers outlive an agent restart.
//
// # Use
//
//	rt, err := runtime.New(runtime.Options{
//		StateDir: "/var/lib/shoal/containers",
//		LogDir:   "/var/log/pods",
//		Logger:   logger,
//	})
//	if errors.Is(err, runtime.ErrUnsupported) {
//		// not root, or no cgroups: say so and run without pods
//	}
//	defer rt.Close()
//	adopted, err := rt.Adopt(ctx) // what the previous agent left running
//	...
//	c, err := rt.Start(ctx, runtime.Spec{
//		Pod:         runtime.PodRef{Namespace: "default", Name: "web-0", UID: string(pod.UID)},
//		Name:        "web",
//		Command:     []string{"python3", "-m", "http.server"},
//		NetNS:       "/run/netns/web-0",
//		Mounts:      []runtime.Mount{{Source: resolvConf, Target: "/etc/resolv.conf"}},
//		CPUMillis:   500,
//		MemoryBytes: 128 << 20,
//	})
//	...
//	st, err := c.Stats()                // CPU time and memory, for load reports
//	status, err := c.Stop(ctx, 30*time.Second) // SIGTERM, SIGKILL after the grace period
//	// status.Code, status.Signal, status.Reason(): "Completed", "Error", "OOMKilled"
//	err = rt.Logs(ctx, pod, "web", runtime.LogOptions{Follow: true}, w) // kubectl logs -f
//
// Everything under Options.CgroupRoot and StateDir belongs to one Runtime;
// agents sharing a machine (several nodes on one host) need their own.
package runtime
