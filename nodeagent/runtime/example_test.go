package runtime_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/shoalmesh/shoal/nodeagent/runtime"
)

// A node agent starts a container in a pod's network namespace, reads its
// use, stops it with a grace period and prints its log. (Not run: it needs
// root and a network namespace at /run/netns/web-0.)
func Example() {
	ctx := context.Background()
	rt, err := runtime.New(runtime.Options{StateDir: "/var/lib/shoal/containers", LogDir: "/var/log/pods"})
	if errors.Is(err, runtime.ErrUnsupported) {
		fmt.Println("no containers here:", err)
		return
	}
	if err != nil {
		panic(err)
	}
	defer rt.Close()
	if _, err := rt.Adopt(ctx); err != nil {
		panic(err)
	}
	pod := runtime.PodRef{Namespace: "default", Name: "web-0", UID: "6f1c0d2e-5b1a-4c5e-9d1e-2f6a7b8c9d0e"}
	c, err := rt.Start(ctx, runtime.Spec{
		Pod:         pod,
		Name:        "web",
		Command:     []string{"python3", "-m", "http.server", "8080"},
		NetNS:       "/run/netns/web-0",
		Mounts:      []runtime.Mount{{Source: "/var/lib/shoal/pods/web-0/resolv.conf", Target: "/etc/resolv.conf"}},
		CPUMillis:   500,
		MemoryBytes: 128 << 20,
	})
	if err != nil {
		panic(err) // errors.Is(err, runtime.ErrCommandNotFound): a pod status message
	}
	st, _ := c.Stats()
	fmt.Println("cpu", st.CPU, "memory", st.MemoryWorkingSet)
	status, err := c.Stop(ctx, 30*time.Second)
	if err != nil {
		panic(err)
	}
	fmt.Println(status.Code, status.Reason())
	rt.Logs(ctx, pod, "web", runtime.LogOptions{}, os.Stdout)
}
