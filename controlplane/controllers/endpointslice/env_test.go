package endpointslice

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"testing"

	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/shoalmesh/shoal/controlplane/controller"
	"github.com/shoalmesh/shoal/controlplane/controllers/controllertest"
	"github.com/shoalmesh/shoal/controlplane/registry"
	"github.com/shoalmesh/shoal/controlplane/store"
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

// slices returns the slices labelled as service svc's, from etcd.
func (e env) slices(svc string) []*discoveryv1.EndpointSlice {
	e.T.Helper()
	sel := labels.SelectorFromSet(labels.Set{discoveryv1.LabelServiceName: svc})
	list, err := e.Reg.Store.List(e.Ctx, registry.EndpointSlices.Resource, "default", store.ListOptions{Predicate: store.Predicate{Label: sel}})
	if err != nil {
		e.T.Fatal(err)
	}
	out := make([]*discoveryv1.EndpointSlice, len(list.Items))
	for i, o := range list.Items {
		out[i] = o.(*discoveryv1.EndpointSlice)
	}
	return out
}

// waitSlices waits until service svc's slices read as want (see
// describeSlices) and returns them.
func (e env) waitSlices(svc string, want ...string) []*discoveryv1.EndpointSlice {
	e.T.Helper()
	sort.Strings(want)
	var ss []*discoveryv1.EndpointSlice
	controllertest.Eventually(e.T, "slices of "+svc, func() (bool, string) {
		ss = e.slices(svc)
		got := describeSlices(ss)
		return slices.Equal(got, want), fmt.Sprintf("%q, want %q", got, want)
	})
	return ss
}

// describeSlices reads slices as sorted strings such as
// "http=8080: a 10.0.0.1 ready; b 10.0.0.2 notready,serving": the ports,
// then each endpoint's pod, address, conditions and hostname.
func describeSlices(ss []*discoveryv1.EndpointSlice) []string {
	out := []string{}
	for _, s := range ss {
		var ports []string
		for _, p := range s.Ports {
			ports = append(ports, fmt.Sprintf("%s=%d", *p.Name, *p.Port))
		}
		sort.Strings(ports)
		var eps []string
		for _, ep := range s.Endpoints {
			c := ep.Conditions
			var conds []string
			if *c.Ready {
				conds = append(conds, "ready")
			} else {
				conds = append(conds, "notready")
				if *c.Serving {
					conds = append(conds, "serving")
				}
			}
			if *c.Terminating {
				conds = append(conds, "terminating")
			}
			d := fmt.Sprintf("%s %s %s", ep.TargetRef.Name, strings.Join(ep.Addresses, ","), strings.Join(conds, ","))
			if ep.Hostname != nil {
				d += " host=" + *ep.Hostname
			}
			eps = append(eps, d)
		}
		sort.Strings(eps)
		out = append(out, strings.Join(ports, ",")+": "+strings.Join(eps, "; "))
	}
	sort.Strings(out)
	return out
}
