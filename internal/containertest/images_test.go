package containertest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/shipdeploy/ship/internal/testenv"
)

// rootfsImage is the imported Debian rootfs the stand-ins start from.
const rootfsImage = "localhost/ship-test-rootfs"

// extraCAs are this machine's own CA certificates. Outbound TLS may be
// re-signed by a proxy that they trust: without them `go mod download`
// and `bun install` fail inside the build.
const extraCAs = "/usr/local/share/ca-certificates"

// standIns are the Containerfiles of the base images, by repository.
var standIns = map[string]string{
	// The official golang image: Debian with Go in /usr/local/go.
	"docker.io/library/golang": `FROM ` + rootfsImage + `
COPY certs/ /usr/local/share/ca-certificates/
RUN update-ca-certificates
COPY go/ /usr/local/go/
ENV GOPATH=/go PATH=/go/bin:/usr/local/go/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
WORKDIR /go
`,
	// The official Bun image: Debian, bun and bunx in /usr/local/bin, the
	// user bun (uid 1000).
	"docker.io/oven/bun": `FROM ` + rootfsImage + `
COPY certs/ /usr/local/share/ca-certificates/
RUN update-ca-certificates
COPY bun /usr/local/bin/bun
RUN ln -s bun /usr/local/bin/bunx \
 && groupadd --gid 1000 bun \
 && useradd --uid 1000 --gid bun --shell /bin/sh --create-home bun \
 && mkdir /home/bun/app && chown bun:bun /home/bun/app
ENV NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt
WORKDIR /home/bun/app
CMD ["/usr/local/bin/bun"]
`,
}

// makeStandIns tags a local stand-in for each base image of the Dockerfile
// under the name it asks for, so `podman build --pull=never` finds them.
func makeStandIns(t *testing.T, pm *testenv.Podman, d *testenv.Dockerfile, tm *timings) {
	t.Helper()
	rootfs := testenv.DebianRootfs(t)
	tm.mark("rootfs")
	pm.Must("import", rootfs, rootfsImage)
	tm.mark("rootfs import")
	for _, image := range d.BaseImages() {
		name := qualify(image)
		repo, _, _ := strings.Cut(name, ":")
		file, ok := standIns[repo]
		if !ok {
			t.Fatalf("the Dockerfile starts from %s, which has no stand-in in images_test.go: add one", image)
		}
		ctx := standInContext(t, repo)
		if err := os.WriteFile(filepath.Join(ctx, "Containerfile"), []byte(file), 0o644); err != nil {
			t.Fatal(err)
		}
		pm.Must("build", "--pull=never", "--format", "docker", "--tag", name, ctx)
	}
	tm.mark("stand-ins")
}

// standInContext makes a build context with the machine's CA certificates
// and the toolchain the stand-in for repo needs.
func standInContext(t *testing.T, repo string) string {
	t.Helper()
	ctx := t.TempDir()
	certs := filepath.Join(ctx, "certs")
	if err := os.Mkdir(certs, 0o755); err != nil {
		t.Fatal(err)
	}
	if entries, err := os.ReadDir(extraCAs); err == nil {
		for _, e := range entries {
			if strings.HasSuffix(e.Name(), ".crt") {
				linkOrCopy(t, filepath.Join(extraCAs, e.Name()), filepath.Join(certs, e.Name()))
			}
		}
	}
	switch repo {
	case "docker.io/library/golang":
		goroot, err := exec.Command("go", "env", "GOROOT").Output()
		if err != nil {
			testenv.SkipOrFail(t, "go env GOROOT: %v", err)
		}
		linkOrCopy(t, strings.TrimSpace(string(goroot)), filepath.Join(ctx, "go"))
	case "docker.io/oven/bun":
		bun, err := filepath.EvalSymlinks(testenv.Bun(t))
		if err != nil {
			t.Fatal(err)
		}
		linkOrCopy(t, bun, filepath.Join(ctx, "bun"))
	}
	return ctx
}

// linkOrCopy puts src (a file or a tree) at dst: hard links where both are
// on one filesystem, a copy otherwise.
func linkOrCopy(t *testing.T, src, dst string) {
	t.Helper()
	if exec.Command("cp", "-al", src, dst).Run() == nil {
		return
	}
	os.RemoveAll(dst)
	if out, err := exec.Command("cp", "-a", src, dst).CombinedOutput(); err != nil {
		t.Fatalf("copy %s: %v\n%s", src, err, out)
	}
}

// qualify writes an image name as podman stores it: docker.io for a name
// without a registry, library/ for an official image.
func qualify(image string) string {
	first, _, found := strings.Cut(image, "/")
	switch {
	case !found:
		return "docker.io/library/" + image
	case strings.ContainsAny(first, ".:") || first == "localhost":
		return image
	}
	return "docker.io/" + image
}

// timings records how long each phase took, for the test's log.
type timings struct {
	last  time.Time
	names []string
	took  map[string]time.Duration
}

func newTimings() *timings { return &timings{last: time.Now(), took: map[string]time.Duration{}} }

// mark ends the phase named name.
func (tm *timings) mark(name string) time.Duration {
	d := time.Since(tm.last)
	tm.last = time.Now()
	tm.names = append(tm.names, name)
	tm.took[name] = d
	return d
}

func (tm *timings) String() string {
	var b strings.Builder
	for _, n := range tm.names {
		fmt.Fprintf(&b, "  %-38s %6.1fs\n", n, tm.took[n].Seconds())
	}
	return b.String()
}
