package netns

import (
	"fmt"
	"os/exec"
	"runtime"
	"sync"

	vnetns "github.com/vishvananda/netns"
)

// Start starts cmd inside the network namespace at path ("" for the
// process's own) from an OS thread kept for that namespace that never
// exits. The child inherits the namespace of the thread that forks it, and
// a child's Pdeathsig fires when that thread exits, not the process: a
// child started from an ordinary thread, which Go may end, could be killed
// at any time. So a daemon the process owns (containerd, say) is started
// here, and dies with the process only.
func Start(path string, cmd *exec.Cmd) error {
	s, err := spawnerFor(path)
	if err != nil {
		return err
	}
	errc := make(chan error, 1)
	s <- spawnReq{cmd: cmd, errc: errc}
	return <-errc
}

type spawnReq struct {
	cmd  *exec.Cmd
	errc chan error
}

var (
	spawnMu  sync.Mutex
	spawners = map[string]chan spawnReq{}
)

// spawnerFor returns the request channel of the thread kept for path,
// starting that thread (and moving it into the namespace) the first time.
func spawnerFor(path string) (chan spawnReq, error) {
	spawnMu.Lock()
	defer spawnMu.Unlock()
	if s, ok := spawners[path]; ok {
		return s, nil
	}
	s := make(chan spawnReq)
	ready := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread ends with the process
		if path != "" {
			ns, err := Open(path)
			if err == nil {
				err = vnetns.Set(ns)
				ns.Close()
			}
			if err != nil {
				ready <- fmt.Errorf("enter netns %s: %w", path, err)
				return // the locked thread ends with this goroutine
			}
		}
		ready <- nil
		for req := range s {
			req.errc <- req.cmd.Start()
		}
	}()
	if err := <-ready; err != nil {
		return nil, err
	}
	spawners[path] = s
	return s, nil
}
