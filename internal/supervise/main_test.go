package supervise

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// helpers are more child programs, added by the tests of one platform.
var helpers = map[string]func(){}

// The test binary doubles as the child programs the tests need: a small HTTP
// app, a RunInit host, and those in helpers. SUPERVISE_HELPER picks one.
func TestMain(m *testing.M) {
	mode := os.Getenv("SUPERVISE_HELPER")
	if h := helpers[mode]; h != nil {
		h()
		os.Exit(0)
	}
	switch mode {
	case "":
		os.Exit(m.Run())
	case "http":
		helperHTTP()
	case "init":
		argv := []string{"sh", "-c", os.Getenv("HELPER_SCRIPT")}
		os.Exit(RunInit("/bin/sh", argv, os.Environ(), os.Stderr))
	case "subreaper-noreap":
		// A negative control: orphans come here but nobody reaps them.
		helperNoReap()
	}
	os.Exit(99)
}

// helperHTTP listens on PORT after HELPER_DELAY and answers 200 on every
// path but /health, which answers HELPER_HEALTH (default 200).
func helperHTTP() {
	if d, err := time.ParseDuration(os.Getenv("HELPER_DELAY")); err == nil {
		time.Sleep(d)
	}
	health, _ := strconv.Atoi(os.Getenv("HELPER_HEALTH"))
	if health == 0 {
		health = 200
	}
	fmt.Println("helper listening on", os.Getenv("PORT"))
	l, err := net.Listen("tcp", "127.0.0.1:"+os.Getenv("PORT"))
	if err != nil {
		fmt.Println(err)
		os.Exit(2)
	}
	_ = http.Serve(l, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/health" {
			w.WriteHeader(health)
		}
		fmt.Fprintln(w, "ok")
	}))
	os.Exit(3)
}

// procStat returns a process's state letter and parent pid from /proc.
func procStat(pid int) (state byte, ppid int, ok bool) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, 0, false
	}
	s := string(data)
	i := strings.LastIndexByte(s, ')')
	if i < 0 || i+4 >= len(s) {
		return 0, 0, false
	}
	f := strings.Fields(s[i+2:])
	if len(f) < 2 {
		return 0, 0, false
	}
	ppid, _ = strconv.Atoi(f[1])
	return f[0][0], ppid, true
}

// zombiesOf lists the zombie children of parent.
func zombiesOf(parent int) []int {
	entries, _ := os.ReadDir("/proc")
	var out []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if st, pp, ok := procStat(pid); ok && pp == parent && st == 'Z' {
			out = append(out, pid)
		}
	}
	return out
}

// alive reports whether pid exists and is not a zombie.
func alive(pid int) bool {
	st, _, ok := procStat(pid)
	return ok && st != 'Z'
}

func getpgid(pid int) (int, error) { return syscall.Getpgid(pid) }

func itoa(n int) string { return strconv.Itoa(n) }

func helperSh() {
	cmd := exec.Command("/bin/sh", "-c", os.Getenv("HELPER_SCRIPT"))
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	err := cmd.Run()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		os.Exit(ee.ExitCode())
	}
	if err != nil {
		os.Exit(98)
	}
	os.Exit(0)
}

func helperNoReap() {
	_ = setSubreaper()
	helperSh()
}
