package netns

import (
	"errors"
	"fmt"
	"runtime"

	vnetns "github.com/vishvananda/netns"
)

// Do runs fn on an OS thread inside ns and returns fn's error, joined with
// ErrNotRestored if the thread could not go back. A panic in fn is raised
// again in the caller.
func Do(ns Handle, fn func() error) error {
	return onThread(func() error {
		if err := vnetns.Set(ns); err != nil {
			return fmt.Errorf("enter netns: %w", err)
		}
		return fn()
	})
}

// DoPath is Do for the namespace at path: a pinned one such as
// /run/netns/node-1, or /proc/<pid>/ns/net. With path "" it calls fn on
// the calling goroutine, in the caller's namespace.
func DoPath(path string, fn func() error) error {
	if path == "" {
		return fn()
	}
	ns, err := Open(path)
	if err != nil {
		return err
	}
	defer ns.Close()
	return Do(ns, fn)
}

// Current opens the network namespace of the calling goroutine's thread:
// the process's, unless the caller runs inside Do.
func Current() (Handle, error) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	ns, err := vnetns.Get()
	if err != nil {
		return None(), fmt.Errorf("get thread netns: %w", err)
	}
	return ns, nil
}

// onThread runs fn on a new goroutine locked to its OS thread; fn may move
// the thread into another network namespace. Afterwards (also after a
// panic or runtime.Goexit in fn) the thread goes back into the namespace
// it started in and is unlocked; if that fails it stays locked, so it ends
// with the goroutine and never runs other code in the wrong namespace.
func onThread(fn func() error) error {
	type result struct {
		err      error
		panicked bool
		panicVal any
	}
	done := make(chan result, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := vnetns.Get()
		if err != nil {
			runtime.UnlockOSThread() // nothing changed
			done <- result{err: fmt.Errorf("get thread netns: %w", err)}
			return
		}
		defer orig.Close() // after the restore below
		var r result
		returned := false
		defer func() {
			if !returned {
				if p := recover(); p != nil {
					r = result{panicked: true, panicVal: p}
				} else {
					r.err = errGoexit
				}
			}
			if err := vnetns.Set(orig); err != nil {
				// Left locked: the runtime ends this thread with the goroutine.
				r.err = errors.Join(r.err, fmt.Errorf("%w: %w", ErrNotRestored, err))
				done <- r
				return
			}
			runtime.UnlockOSThread()
			done <- r
		}()
		r.err = fn()
		returned = true
	}()
	r := <-done
	if r.panicked {
		panic(r.panicVal)
	}
	return r.err
}
