package xdsclient

import (
	"testing"

	"github.com/shoalmesh/shoal/internal/testenv"
	"github.com/shoalmesh/shoal/xds/xdstest"
)

// Given several xDS servers, the client uses one that answers (the first
// is down) and, when that one stops, the next; it keeps its configuration
// meanwhile and takes the next server's.
func TestSeveralServers(t *testing.T) {
	down := testenv.FreeAddr(t) // nothing listens there
	a := xdstest.StartServer(t, "127.0.0.1:0")
	a.Feed(t, web("10.1.0.1"))
	b := xdstest.StartServer(t, "127.0.0.1:0")
	b.Feed(t, web("10.1.0.2"))
	rec := newRecorder()
	startClient(t, down+","+a.Addr+","+b.Addr, rec)
	rec.await(t, "the first live server's endpoints", hasEndpoints(webName, "10.1.0.1:8080"))

	a.Stop()
	rec.await(t, "the next server's endpoints", hasEndpoints(webName, "10.1.0.2:8080"))
}
