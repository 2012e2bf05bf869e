package nodeagent

import (
	"context"
	"encoding/json"
	"log/slog"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// What the integration tests (package nodeagent_test, which can import
// cluster/clustertest) need to see of an agent.

// ContainerID is the CRI ID of the pod's running container, or "".
func ContainerID(a *Agent, uid types.UID, container string) string {
	w := a.worker(uid)
	if w == nil {
		return ""
	}
	return w.viewOf().containers[container].id
}

// ContainerPid is the node PID of the main process of the pod's running
// container, or 0.
func ContainerPid(a *Agent, uid types.UID, container string) int {
	id := ContainerID(a, uid, container)
	if id == "" {
		return 0
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	st, err := a.cri.ContainerStatus(ctx, id, true)
	if err != nil {
		return 0
	}
	var info struct {
		Pid int `json:"pid"`
	}
	json.Unmarshal([]byte(st.GetInfo()["info"]), &info)
	return info.Pid
}

// ExecSync runs cmd in the container id through the runtime, as kubectl
// exec would, and returns its output and exit code.
func ExecSync(a *Agent, id string, cmd ...string) (string, int, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	code, out, err := a.execer(id).Exec(ctx, cmd)
	return string(out), code, err
}

// SetKeepPodsOnStop changes, before it stops, whether a running agent
// keeps its pods.
func SetKeepPodsOnStop(a *Agent, keep bool) { a.cfg.KeepPodsOnStop = keep }

// RuntimeLeft lists the sandboxes and containers of pod uid in the agent's
// runtime.
func RuntimeLeft(a *Agent, uid types.UID) []string {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	sel := map[string]string{labelPodUID: string(uid)}
	var out []string
	sbs, err := a.cri.ListPodSandbox(ctx, &runtimeapi.PodSandboxFilter{LabelSelector: sel})
	if err != nil {
		return []string{"list sandboxes: " + err.Error()}
	}
	for _, sb := range sbs {
		out = append(out, "sandbox "+sb.Id[:12]+" "+sb.State.String())
	}
	cs, err := a.cri.ListContainers(ctx, &runtimeapi.ContainerFilter{LabelSelector: sel})
	if err != nil {
		return append(out, "list containers: "+err.Error())
	}
	for _, c := range cs {
		out = append(out, "container "+c.Metadata.Name+" "+c.State.String())
	}
	return out
}

// WriteVolumeContents writes the contents of pod's volumes under dataDir
// as the worker of an agent of node whose API client is client does before
// the pod's sandbox runs, and returns where each volume is.
func WriteVolumeContents(ctx context.Context, client kubernetes.Interface, node string, pod *corev1.Pod, dataDir string) (map[string]string, error) {
	a := &Agent{cfg: Config{NodeName: node, DataDir: dataDir}, client: client, log: slog.New(slog.DiscardHandler)}
	vols, err := a.setupVolumes(pod)
	if err != nil {
		return nil, err
	}
	w := &podWorker{a: a, uid: pod.UID, pod: pod, volumes: vols}
	err = w.writeVolumeContents(ctx, pod, apiObjects{ctx: ctx, client: client, namespace: pod.Namespace}, time.Now())
	return vols.paths, err
}
