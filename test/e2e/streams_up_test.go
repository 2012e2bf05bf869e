package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"k8s.io/client-go/kubernetes"
)

// streamPodsManifest: a busybox pod to exec into and copy to and from, and
// one whose container reads its stdin once, to attach to.
func streamPodsManifest(registry string) string {
	return fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata: {name: box, labels: {app: box}}
spec:
  containers: [{name: box, image: %[1]s/busybox:1, command: [sleep, "3600"]}]
---
apiVersion: v1
kind: Pod
metadata: {name: reader, labels: {app: reader}}
spec:
  restartPolicy: Never
  containers:
  - name: reader
    image: %[1]s/busybox:1
    stdin: true
    stdinOnce: true
    command: [sh, -c, "while read l; do echo got:$l; done; echo eof"]
`, registry)
}

// checkStreams runs kubectl exec (output, stdin, exit codes), cp both
// ways, attach and port-forward against pods the real agent runs through
// containerd: the API server proxies each to the node server, which
// streams through the runtime's CRI streaming URL.
func checkStreams(t *testing.T, k *kubectl, cs kubernetes.Interface, registry, webPod string) {
	t.Helper()
	k.ok(t, "apply", "-f", k.write(t, "streams.yaml", streamPodsManifest(registry)))
	waitReadyPods(t, cs, "default", "app=box", 1)
	waitReadyPods(t, cs, "default", "app=reader", 1)

	if out, _ := k.ok(t, "exec", "box", "--", "sh", "-c", "echo hello from $(hostname); cat /etc/hostname"); out != "hello from box\nbox\n" {
		t.Errorf("kubectl exec box: %q", out)
	}
	stdout, stderr, err := k.run(t, "exec", "box", "--", "sh", "-c", "echo out; echo err >&2; exit 3")
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 3 || stdout != "out\n" || !strings.Contains(stderr, "err") {
		t.Errorf("kubectl exec with exit 3: err %v, stdout %q, stderr %q", err, stdout, stderr)
	}
	if out := k.stdin(t, "a line\nanother\n", "exec", "-i", "box", "--", "cat"); out != "a line\nanother\n" {
		t.Errorf("kubectl exec -i box -- cat: %q", out)
	}

	// cp in and back out (kubectl runs tar in the container).
	local := k.write(t, "cp-in.txt", "copied through kubectl cp\n")
	k.ok(t, "cp", local, "box:/tmp/cp.txt")
	if out, _ := k.ok(t, "exec", "box", "--", "cat", "/tmp/cp.txt"); out != "copied through kubectl cp\n" {
		t.Errorf("after kubectl cp into box: %q", out)
	}
	back := filepath.Join(k.dir, "cp-out.txt")
	k.ok(t, "cp", "box:/tmp/cp.txt", back)
	if b, err := os.ReadFile(back); err != nil || string(b) != "copied through kubectl cp\n" {
		t.Errorf("kubectl cp out of box: %q, %v", b, err)
	}

	// attach -i to a container that reads its stdin once: it sees the
	// lines, then EOF, and exits.
	if out := k.stdin(t, "one\ntwo\n", "attach", "-i", "reader"); !strings.Contains(out, "got:one\ngot:two\neof\n") {
		t.Errorf("kubectl attach -i reader: %q", out)
	}

	// port-forward to the echoserver.
	pf := k.watch(t, "port-forward", "pod/"+webPod, ":8080")
	m := regexp.MustCompile(`Forwarding from 127\.0\.0\.1:(\d+) ->`).FindStringSubmatch(pf.next(t))
	if m == nil {
		t.Fatalf("kubectl port-forward printed no local port: %s", pf.stderr)
	}
	for i := range 3 {
		resp, err := (&http.Client{Timeout: 5 * time.Second}).Get("http://127.0.0.1:" + m[1] + "/hello")
		if err != nil {
			t.Fatalf("GET %d through kubectl port-forward: %v", i, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "hello from "+webPod) {
			t.Errorf("GET through kubectl port-forward: %s %q", resp.Status, body)
		}
	}
}

// stdin runs kubectl with input on its stdin and returns its stdout,
// failing the test unless it succeeds.
func (k *kubectl) stdin(t *testing.T, input string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), kubectlTimeout)
	defer cancel()
	cmd := k.command(ctx, args)
	var out, errOut bytes.Buffer
	cmd.Stdin, cmd.Stdout, cmd.Stderr = strings.NewReader(input), &out, &errOut
	if err := cmd.Run(); err != nil {
		t.Fatalf("kubectl %s: %v\n%s%s", strings.Join(args, " "), err, out.String(), errOut.String())
	}
	return out.String()
}
