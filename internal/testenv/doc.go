// Package testenv is what Shoal's tests know about the machine they run on,
// as Go's own internal/testenv is for the Go tree: which capabilities it has
// (root, kubectl, node, ...), a free port, and a poll with a deadline.
//
// A test that needs something the machine may lack says so first:
//
//	func TestKubectlApply(t *testing.T) {
//		testenv.Require(t, testenv.Kubectl)
//		...
//	}
//
// Where the capability is missing the test skips with the reason, unless
// the environment variable SHOAL_TEST_REQUIRE lists it (CI sets
// SHOAL_TEST_REQUIRE=root,kubectl,node,python3): then the test fails, naming
// the capability and the reason, so a machine that lost a capability, or a
// check that broke, turns CI red instead of silently skipping. Checks that
// only product code can make (the node agent's preflight) come in as an
// error through RequireOK:
//
//	testenv.RequireOK(t, testenv.Root, nodeagent.Preflight(""))
package testenv
