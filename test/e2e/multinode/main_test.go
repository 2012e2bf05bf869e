// Package multinode tests a Shoal cluster of several nodes on one machine
// (nodeagent/nodeagenttest): each node a network namespace wired to a host
// bridge, with its own agent process and containerd; the control plane
// in-process. The pods run the echoserver and busybox images, imported at
// each agent's start. The tests need root, cgroups and containerd, and
// skip elsewhere.
package multinode

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/shoalmesh/shoal/internal/testenv"
	"github.com/shoalmesh/shoal/nodeagent/nodeagenttest"
	"github.com/shoalmesh/shoal/test/imagetest"
)

func TestMain(m *testing.M) {
	nodeagenttest.Main() // the node agents are this binary
	os.Exit(m.Run())
}

// The images the pods run, imported by every node at start.
const (
	echoImage = "shoal.test/echoserver:1"
	boxImage  = "shoal.test/busybox:1"
)

// images are the nodes' images (built once per test process).
func images(t testing.TB) map[string]v1.Image {
	testenv.Require(t, testenv.Busybox)
	return map[string]v1.Image{echoImage: imagetest.EchoServer(t), boxImage: imagetest.Busybox(t)}
}

func httpGet(url string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return "", err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err == nil && resp.StatusCode != http.StatusOK {
		err = fmt.Errorf("%s: %s", resp.Status, b)
	}
	return string(b), err
}
