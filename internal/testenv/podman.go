package testenv

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// rootfsCache keeps the Debian rootfs for stand-in base images between
// runs: it takes 20-30 s and the Debian mirror to make.
const rootfsCache = "/var/cache/ship-test"

// Podman is a rootful podman for one test, with its images, containers,
// volumes, networks' files and run state in a temp folder of its own. The
// machine's own podman storage and settings are neither used nor changed.
type Podman struct {
	Dir string
	// Env names the test's settings (CONTAINERS_CONF,
	// CONTAINERS_STORAGE_CONF): every podman of the test must see them,
	// also one run over SSH (WithEnv).
	Env []string
	t   testing.TB
}

// StartPodman sets podman up for the test and removes everything it made
// when the test ends. It skips (fails in strict mode) without root, podman
// or runc. The settings are those this machine needs: runc (crun refuses
// a hybrid cgroup layout) and open-file and process limits within the
// VM's hard limits.
func StartPodman(t testing.TB) *Podman {
	t.Helper()
	if os.Geteuid() != 0 {
		SkipOrFail(t, "podman tests need root (rootful podman, as CI runs)")
	}
	for _, bin := range []string{"podman", "runc"} {
		if _, err := exec.LookPath(bin); err != nil {
			if _, err := os.Stat("/usr/sbin/" + bin); err != nil {
				SkipOrFail(t, "%s is not installed: run scripts/setup", bin)
			}
		}
	}
	// A short path: conmon's sockets live below it, and a socket path
	// may not exceed 108 bytes.
	dir, err := os.MkdirTemp("", "ship-podman-")
	if err != nil {
		t.Fatal(err)
	}
	p := &Podman{Dir: dir, t: t}
	conf := fmt.Sprintf(`[containers]
default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]

[engine]
runtime = "runc"
tmp_dir = %[1]q
events_logger = "file"
events_logfile_path = %[2]q

[network]
network_config_dir = %[3]q
`, filepath.Join(dir, "tmp"), filepath.Join(dir, "events.log"), filepath.Join(dir, "networks"))
	storage := fmt.Sprintf(`[storage]
driver = "overlay"
graphroot = %q
runroot = %q
`, filepath.Join(dir, "storage"), filepath.Join(dir, "run"))
	for name, text := range map[string]string{"containers.conf": conf, "storage.conf": storage} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	p.Env = []string{
		"CONTAINERS_CONF=" + filepath.Join(dir, "containers.conf"),
		"CONTAINERS_STORAGE_CONF=" + filepath.Join(dir, "storage.conf"),
	}
	t.Cleanup(p.remove)
	return p
}

// Command is podman with the test's settings.
func (p *Podman) Command(args ...string) *exec.Cmd {
	cmd := exec.Command("podman", args...)
	cmd.Env = append(os.Environ(), p.Env...)
	return cmd
}

// Run runs podman and returns its output, stdout and stderr together.
func (p *Podman) Run(args ...string) (string, error) {
	out, err := p.Command(args...).CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("podman %s: %w\n%s", strings.Join(args, " "), err, out)
	}
	return string(out), nil
}

// Must is Run that fails the test on an error.
func (p *Podman) Must(args ...string) string {
	p.t.Helper()
	out, err := p.Run(args...)
	if err != nil {
		p.t.Fatal(err)
	}
	return out
}

// remove stops every container and deletes the storage: podman unmounts
// its layers, then anything still mounted below Dir is unmounted before
// the folder goes.
func (p *Podman) remove() {
	if _, err := p.Run("rm", "--all", "--force", "--time", "0"); err != nil {
		p.t.Log(err)
	}
	if _, err := p.Run("system", "reset", "--force"); err != nil {
		p.t.Log(err)
	}
	for _, m := range mountsBelow(p.Dir) {
		if err := syscall.Unmount(m, syscall.MNT_DETACH); err != nil {
			p.t.Logf("unmount %s: %v", m, err)
		}
	}
	if err := os.RemoveAll(p.Dir); err != nil {
		p.t.Logf("remove podman's test folder: %v", err)
	}
}

// mountsBelow lists mount points under dir, deepest first.
func mountsBelow(dir string) []string {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) > 4 && strings.HasPrefix(fields[4], dir+"/") {
			out = append([]string{fields[4]}, out...)
		}
	}
	return out
}

// DebianRootfs returns a tarball of a minimal Debian (mmdebstrap
// --variant=minbase, with ca-certificates) of this machine's release, the
// base of stand-in images. It is kept in /var/cache/ship-test between runs;
// the first run makes it from the Debian mirror.
func DebianRootfs(t testing.TB) string {
	t.Helper()
	suite := osRelease("VERSION_CODENAME")
	if suite == "" {
		SkipOrFail(t, "no VERSION_CODENAME in /etc/os-release: stand-in images need a Debian machine")
	}
	file := filepath.Join(rootfsCache, "rootfs-"+suite+"-minbase.tar")
	if _, err := os.Stat(file); err == nil {
		return file
	}
	if _, err := exec.LookPath("mmdebstrap"); err != nil {
		SkipOrFail(t, "mmdebstrap is not installed: run scripts/setup")
	}
	if err := os.MkdirAll(rootfsCache, 0o755); err != nil {
		t.Fatal(err)
	}
	tmp := fmt.Sprintf("%s.tmp-%d.tar", file, os.Getpid())
	defer os.Remove(tmp)
	start := time.Now()
	cmd := exec.Command("mmdebstrap", "--quiet", "--variant=minbase", "--include=ca-certificates", suite, tmp)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("mmdebstrap %s: %v\n%s", suite, err, out)
	}
	if err := os.Rename(tmp, file); err != nil {
		t.Fatal(err)
	}
	t.Logf("made %s in %s", file, time.Since(start).Round(time.Second))
	return file
}

// osRelease reads one field of /etc/os-release.
func osRelease(key string) string {
	data, err := os.ReadFile("/etc/os-release")
	if err != nil {
		return ""
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, key+"="); ok {
			return strings.Trim(v, `"`)
		}
	}
	return ""
}
