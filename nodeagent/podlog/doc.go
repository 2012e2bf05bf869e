// Package podlog reads and rotates container logs in the CRI format, the
// files containerd writes for the node agent (the kubelet's layout,
// <log dir>/<namespace>_<pod>_<uid>/<container>/<restart count>.log):
//
//	2024-05-01T10:00:00.123456789Z stdout F the line's text
//
// F ends a line; P is a fragment of a longer line that the next record
// continues. Read writes what `kubectl logs` shows (follow, timestamps,
// tail, since, limit-bytes); Rotate renames a grown file to path.1 (older
// ones to .2, .3, …), after which the runtime is asked to reopen it
// (CRI ReopenContainerLog). Read follows a file through rotations.
//
//	err := podlog.Read(ctx, "/var/lib/shoal/agent/logs/default_web_u1/web/0.log",
//		podlog.LogOptions{Follow: true, TailLines: &ten}, w, running)
package podlog
