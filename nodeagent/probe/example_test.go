package probe_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"

	"github.com/shoalmesh/shoal/nodeagent/probe"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// The agent adds each running container, reads updates and acts on them.
func Example() {
	pod := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	defer pod.Close()
	podIP, port, _ := net.SplitHostPort(pod.Listener.Addr().String())
	portNum, _ := strconv.Atoi(port)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	m := probe.New(ctx, probe.Options{Version: "v0.1.0"})
	defer m.Close()

	err := m.Add(probe.Container{
		PodUID: "5b1c5f0e-pod-uid",
		PodIP:  podIP,
		ID:     "container-1", // a restart adds it again with a new ID
		Spec: &corev1.Container{
			Name:  "web",
			Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: int32(portNum)}},
			ReadinessProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{
				HTTPGet: &corev1.HTTPGetAction{Path: "/healthz", Port: intstr.FromString("http")},
			}},
			LivenessProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{
				TCPSocket: &corev1.TCPSocketAction{Port: intstr.FromString("http")},
			}},
		},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	for u := range m.Updates() {
		switch {
		case u.Kind == probe.Readiness:
			fmt.Printf("%s ready: %v\n", u.Container, u.Result == probe.Success)
		case u.Result == probe.Failure: // liveness or startup
			fmt.Printf("restart %s: %s\n", u.Container, u.Output)
		}
		if m.Ready(u.PodUID, u.Container) {
			break
		}
	}
	// Output: web ready: true
}
