package supervise

import "golang.org/x/sys/unix"

// setSubreaper makes orphaned descendants reparent to this process.
func setSubreaper() error { return unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) }
