package runtime

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// Adopt takes over what a previous Runtime on the same StateDir left: it
// returns its containers that still run (Wait, Signal, Stop, Stats and Logs
// -f work on them as on started ones) and those that exited meanwhile (done,
// with their exit status; their cgroup and record are already removed).
// The agent then keeps or stops each. Records of containers already known
// to this Runtime are skipped; unreadable records, and cgroups under
// CgroupRoot that no running container accounts for (an agent crashed while
// starting one), are removed, killing what runs in them.
func (r *Runtime) Adopt(ctx context.Context) ([]*Container, error) {
	if r.isClosed() {
		return nil, ErrClosed
	}
	bootID, _ := os.ReadFile("/proc/sys/kernel/random/boot_id")
	boot := strings.TrimSpace(string(bootID))
	pods, err := os.ReadDir(r.opts.StateDir)
	if err != nil {
		return nil, err
	}
	var out []*Container
	for _, pod := range pods {
		if !pod.IsDir() || checkPathElem(pod.Name()) != nil {
			continue
		}
		podDir := filepath.Join(r.opts.StateDir, pod.Name())
		names, err := os.ReadDir(podDir)
		if err != nil {
			return out, err
		}
		for _, name := range names {
			if err := ctx.Err(); err != nil {
				return out, err
			}
			if c := r.adoptOne(pod.Name(), name.Name(), boot); c != nil {
				out = append(out, c)
			}
		}
		os.Remove(podDir) // if empty
	}
	r.sweepCgroups()
	return out, nil
}

func (r *Runtime) adoptOne(uid, name, boot string) *Container {
	k := ckey{uid, name}
	r.mu.Lock()
	_, known := r.containers[k]
	r.mu.Unlock()
	if known {
		return nil
	}
	dir := r.stateDir(uid, name)
	rec, err := readRecord(dir)
	if err != nil || rec.Spec.Pod.UID != uid || rec.Spec.Name != name {
		if !errors.Is(err, fs.ErrNotExist) {
			r.log.Warn("drop unreadable container record", "dir", dir, "err", err)
		}
		os.RemoveAll(dir) // crashed before the record was written
		return nil
	}
	c := &Container{
		rt: r, spec: rec.Spec, pid: rec.Pid, cgroup: rec.Cgroup,
		stateDir: dir, startedAt: rec.StartedAt, done: make(chan struct{}),
	}
	if rec.BootID == boot {
		if ref, err := openProc(rec.Pid, rec.PidStart); err == nil {
			c.ref = ref
			r.mu.Lock()
			r.containers[k] = c
			r.mu.Unlock()
			go c.watchAdopted()
			return c
		}
	}
	c.status = r.collect(dir, rec.Cgroup, nil, false, rec.StartedAt)
	r.cleanup(rec.Cgroup, dir)
	close(c.done)
	return c
}

// sweepCgroups removes cgroups under the root that belong to no running
// container of this Runtime.
func (r *Runtime) sweepCgroups() {
	root := r.opts.CgroupRoot
	uids, err := r.cg.children(root)
	if err != nil {
		r.log.Warn("list cgroups", "cgroup", root, "err", err)
		return
	}
	r.mu.Lock()
	live := make(map[ckey]bool, len(r.containers))
	for k := range r.containers {
		live[k] = true
	}
	r.mu.Unlock()
	for _, uid := range uids {
		names, _ := r.cg.children(root + "/" + uid)
		for _, name := range names {
			if !live[ckey{uid, name}] {
				p := root + "/" + uid + "/" + name
				r.log.Info("remove orphaned cgroup", "cgroup", p)
				if err := r.cg.remove(p); err != nil {
					r.log.Warn("remove orphaned cgroup", "cgroup", p, "err", err)
				}
			}
		}
		r.cg.removeIfEmpty(root + "/" + uid)
	}
}
