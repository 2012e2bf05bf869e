package loadsync

import (
	"math"
	"testing"

	"github.com/shoalmesh/shoal/xds/load"
)

func TestMerge(t *testing.T) {
	into := map[string]load.Load{
		"10.0.0.1": {RPS: 100, InFlight: 4, ErrorRate: 0.1, CPU: -1, Reporters: 1},
		"10.0.0.2": {RPS: 10, InFlight: 1, Reporters: 1, CPU: 0.5},
	}
	merge(into, map[string]load.Load{
		"10.0.0.1": {RPS: 300, InFlight: 12, ErrorRate: 0, CPU: 0.2, Reporters: 2},
		"10.0.0.3": {RPS: 1, InFlight: 0, Reporters: 1, CPU: -1},
	})
	a := into["10.0.0.1"]
	if a.RPS != 400 || a.InFlight != 16 || a.Reporters != 3 || a.CPU != 0.2 || math.Abs(a.ErrorRate-0.025) > 1e-9 {
		t.Errorf("merged 10.0.0.1 = %+v; want rates and in-flight added, errors averaged by rate, CPU the larger", a)
	}
	if into["10.0.0.2"].RPS != 10 || into["10.0.0.3"].Reporters != 1 {
		t.Errorf("unshared endpoints: %+v", into)
	}
}
