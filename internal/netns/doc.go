// Package netns runs code inside Linux network namespaces and pins
// namespaces on files, for the node agent and for the tests that stand in
// for nodes and pods. It wraps github.com/vishvananda/netns, which files
// outside this package need not import.
//
// A network namespace belongs to an OS thread, not to a goroutine or a
// process, so every switch happens on a goroutine locked to its thread
// (runtime.LockOSThread), and the thread goes back into its own namespace
// before it is unlocked. A thread that cannot be put back stays locked: the
// Go runtime ends it with its goroutine instead of running other goroutines
// on it in the wrong namespace. This package is the only place in Shoal
// that switches a thread's namespace.
//
// A socket opened inside a namespace stays there wherever it is used
// afterwards, which is how a process listens and dials in a node's
// namespace while it runs in another:
//
//	var ln net.Listener
//	err := netns.DoPath("/run/netns/node-1", func() (err error) {
//		ln, err = net.Listen("tcp", "10.0.0.1:8080")
//		return err
//	})
//
// Goroutines that fn starts run in the process's namespace, not in the one
// fn runs in.
package netns
