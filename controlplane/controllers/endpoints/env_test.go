package endpoints

import (
	"testing"

	"github.com/shoalmesh/shoal/controlplane/controller"
	"github.com/shoalmesh/shoal/controlplane/controllers/controllertest"
)

// env runs this package's controller against a registry on a real
// embedded etcd.
type env struct{ *controllertest.Env }

func newEnv(t *testing.T) env { return env{controllertest.New(t)} }

// start runs a new controller until the returned stop is called (or the
// test ends).
func (e env) start() (stop func()) {
	return e.Start(func(d controller.Deps) []controller.Controller { return []controller.Controller{New(d)} })
}
