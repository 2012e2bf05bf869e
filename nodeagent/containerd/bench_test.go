package containerd_test

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/shoalmesh/shoal/internal/testenv"
	"github.com/shoalmesh/shoal/nodeagent/containerd"
	"github.com/shoalmesh/shoal/nodeagent/containerd/containerdtest"
	"github.com/shoalmesh/shoal/test/imagetest"
)

// BenchmarkPodStart times each CRI call of a one-container pod's life,
// sequentially, on the host network and on the stock bridge plugin, and
// reports each call's median in milliseconds. Run as root, e.g.
//
//	flock /tmp/shoal-root.lock go test -run '^$' -bench PodStart -benchtime 20x ./nodeagent/containerd/
//
// SHOAL_BENCH_CONTAINERD_LOG=debug keeps containerd's debug log, copied to
// $TMPDIR/shoal-bench-<network>-containerd.log, to see where a call's time goes.
func BenchmarkPodStart(b *testing.B) {
	testenv.Require(b, testenv.Root, testenv.Containerd)
	reg := imagetest.StartRegistry(b, imagetest.RegistryOptions{})
	ref := reg.Push(b, imagetest.Busybox(b), "busybox:1")
	for _, network := range []string{"host", "bridge"} {
		b.Run(network, func(b *testing.B) {
			opts := containerdtest.Options{Config: func(c *containerd.Config) { c.LogLevel = os.Getenv("SHOAL_BENCH_CONTAINERD_LOG") }}
			if network == "bridge" {
				opts.CNISubnet = testSubnet()
			}
			rt := containerdtest.Start(b, opts)
			if opts.Config != nil && os.Getenv("SHOAL_BENCH_CONTAINERD_LOG") != "" {
				keep := filepath.Join(os.TempDir(), "shoal-bench-"+network+"-containerd.log")
				b.Cleanup(func() {
					if log, err := os.ReadFile(rt.LogPath()); err == nil {
						os.WriteFile(keep, log, 0o644)
						b.Logf("containerd log: %s", keep)
					}
				})
			}
			ctx := b.Context()
			image, err := rt.Images.PullImage(ctx, &runtimeapi.ImageSpec{Image: ref}, nil, nil)
			if err != nil {
				b.Fatal(err)
			}
			phases := []string{"run", "create", "start", "stopc", "stop", "remove"}
			times := map[string][]time.Duration{}
			timed := func(phase string, f func() error) {
				t0 := time.Now()
				if err := f(); err != nil {
					b.Fatalf("%s: %v", phase, err)
				}
				times[phase] = append(times[phase], time.Since(t0))
			}
			b.ResetTimer()
			for i := range b.N {
				pod := rt.PodSandboxConfig(fmt.Sprintf("bench-%d", i), network == "host")
				var podID, ctrID string
				timed("run", func() (err error) { podID, err = rt.Runtime.Runtime.RunPodSandbox(ctx, pod, ""); return err })
				cfg := containerdtest.ContainerConfig("c", image, []string{"sleep", "3600"}, nil)
				timed("create", func() (err error) { ctrID, err = rt.Runtime.Runtime.CreateContainer(ctx, podID, cfg, pod); return err })
				timed("start", func() error { return rt.Runtime.Runtime.StartContainer(ctx, ctrID) })
				timed("stopc", func() error { return rt.Runtime.Runtime.StopContainer(ctx, ctrID, 0) })
				timed("stop", func() error { return rt.Runtime.Runtime.StopPodSandbox(ctx, podID) })
				timed("remove", func() error { return rt.Runtime.Runtime.RemovePodSandbox(ctx, podID) })
			}
			b.StopTimer()
			for _, p := range phases {
				d := slices.Clone(times[p])
				slices.Sort(d)
				b.ReportMetric(float64(d[len(d)/2].Microseconds())/1000, p+"-p50-ms")
				b.ReportMetric(float64(d[len(d)-1].Microseconds())/1000, p+"-max-ms")
			}
		})
	}
}
