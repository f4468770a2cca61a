//go:build linux

package supervise

import (
	"os/exec"
	"runtime"
	"sync"
	"syscall"
)

// appProcAttr puts the app in its own process group and asks the kernel to
// send it SIGTERM when its parent dies: the first line of defence when the
// receiver is killed (the guard stops the rest of the tree).
func appProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
}

// The kernel sends Pdeathsig when the *thread* that forked the child exits,
// not the process. Go starts and ends OS threads as it likes (a goroutine
// that exits while locked to its thread ends that thread), so an app forked
// from an arbitrary goroutine could get SIGTERM while the receiver runs on.
// Every app is therefore forked from one goroutine locked to its thread for
// the life of the process.
var spawner struct {
	once sync.Once
	reqs chan spawnReq
}

type spawnReq struct {
	cmd  *exec.Cmd
	done chan error
}

// spawn runs cmd.Start on the spawner thread.
func spawn(cmd *exec.Cmd) error {
	spawner.once.Do(func() {
		spawner.reqs = make(chan spawnReq)
		go spawnLoop(spawner.reqs)
	})
	req := spawnReq{cmd: cmd, done: make(chan error, 1)}
	spawner.reqs <- req
	return <-req.done
}

// spawnLoop never returns and never unlocks: its thread lives as long as the
// process.
func spawnLoop(reqs <-chan spawnReq) {
	runtime.LockOSThread()
	for req := range reqs {
		req.done <- req.cmd.Start()
	}
}
