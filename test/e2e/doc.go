// Package e2e tests Shoal from the outside, the way a user meets it: the
// real `shoal` binary run as a child process, and the real kubectl (the one
// on the PATH) against a Shoal started in-process by clustertest. The
// kubectl tests skip when there is no kubectl.
package e2e
