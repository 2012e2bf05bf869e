package containerd_test

import (
	"testing"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/shoalmesh/shoal/nodeagent/containerd"
	"github.com/shoalmesh/shoal/nodeagent/containerd/containerdtest"
)

func TestStartRunsHostNetworkSandbox(t *testing.T) {
	rt := containerdtest.Start(t, containerdtest.Options{})
	ctx := t.Context()
	v, err := rt.Runtime.Runtime.Version(ctx, "v1")
	if err != nil {
		t.Fatal(err)
	}
	if v.RuntimeName != "containerd" || v.RuntimeApiVersion != "v1" {
		t.Errorf("Version = %v, want containerd with CRI v1", v)
	}
	if _, err := rt.Runtime.Runtime.RuntimeConfig(ctx); !containerd.Unsupported(err) {
		t.Errorf("RuntimeConfig: err = %v, want Unimplemented from containerd 1.6", err)
	}
	cfg := rt.PodSandboxConfig("host", true)
	id, err := rt.Runtime.Runtime.RunPodSandbox(ctx, cfg, "")
	if err != nil {
		t.Fatal(err)
	}
	st, err := rt.Runtime.Runtime.PodSandboxStatus(ctx, id, false)
	if err != nil {
		t.Fatal(err)
	}
	if st.Status.State != runtimeapi.PodSandboxState_SANDBOX_READY {
		t.Errorf("sandbox state = %v, want ready", st.Status.State)
	}
}
