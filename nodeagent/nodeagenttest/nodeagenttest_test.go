package nodeagenttest_test

import (
	"crypto/tls"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/shoalmesh/shoal/internal/testenv"
	"github.com/shoalmesh/shoal/nodeagent/nodeagenttest"
)

func TestMain(m *testing.M) {
	nodeagenttest.Main()
	os.Exit(m.Run())
}

// The harness's wiring: each node's server (HTTPS, signed by the cluster CA) listens in its namespace on
// its node IP, which the host and the other node reach over the bridge; a
// killed agent stops answering and a restarted one answers again. The
// clean-up then checks that nothing is left.
func TestHarness(t *testing.T) {
	c := nodeagenttest.Start(t, nodeagenttest.Options{Nodes: 2})
	healthz := func(client *http.Client, n *nodeagenttest.Node) error {
		node, err := c.Client.CoreV1().Nodes().Get(t.Context(), n.Name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		url := "https://" + n.IP.String() + ":" + strconv.Itoa(int(node.Status.DaemonEndpoints.KubeletEndpoint.Port)) + "/healthz"
		resp, err := client.Get(url)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("GET %s: %s", url, resp.Status)
		}
		return nil
	}
	one, two := c.Nodes[0], c.Nodes[1]
	host := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: c.CAPool()}}}
	for _, n := range c.Nodes {
		if err := healthz(host, n); err != nil {
			t.Errorf("from the host to %s: %v", n.Name, err)
		}
	}
	if err := healthz(one.HTTPClient(), two); err != nil {
		t.Errorf("from %s to %s: %v", one.Name, two.Name, err)
	}
	if routes, err := two.PeerRoutes(); err != nil || routes[one.PodCIDR] != one.IP {
		t.Errorf("%s's routes to other nodes' pods: %v, %v; want %s via %s", two.Name, routes, err, one.PodCIDR, one.IP)
	}

	two.Kill(t)
	if two.Running() {
		t.Fatal("the killed agent runs")
	}
	if err := healthz(one.HTTPClient(), two); err == nil {
		t.Error("a killed agent's log server answers")
	}
	two.Restart(t)
	testenv.Eventually(t, 10*time.Second, "the restarted agent answers", func() error { return healthz(one.HTTPClient(), two) })
}
