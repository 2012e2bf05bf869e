// Package e2e tests Shoal from the outside, the way a user meets it: the
// real `shoal` binary run as a child process, and the real kubectl (the one
// on the PATH) against a Shoal started in-process by clustertest. Tests
// that need kubectl, root, node or python3 skip without it through
// internal/testenv, or fail where SHOAL_TEST_REQUIRE lists it (as in CI).
package e2e
