package host_test

import (
	"context"
	"testing"

	"github.com/shipdeploy/ship/internal/host"
	"github.com/shipdeploy/ship/internal/release"
	"github.com/shipdeploy/ship/internal/remote"
	"github.com/shipdeploy/ship/internal/testenv"
)

// BenchmarkContainerFileOp reads a small file (state.json's size) in a
// podman container over the test sshd, side by side: SFTP on the host (what
// a deploy without --container pays), Container's session, and an engine
// exec per operation. Needs root and podman (scripts/setup).
//
//	go test -run '^$' -bench ContainerFileOp ./internal/host/
func BenchmarkContainerFileOp(b *testing.B) {
	pm := testenv.StartPodman(b)
	pm.Must("import", testenv.DebianRootfs(b), "localhost/ship-bench-rootfs")
	pm.Must("run", "--detach", "--name", "bench", "localhost/ship-bench-rootfs", "sleep", "infinity")
	sshd := testenv.StartSSHD(b, testenv.WithEnv(pm.Env...))
	ctx := context.Background()
	c, err := remote.Dial(ctx, sshd.Config())
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	state := []byte(`{"pid": 11, "mode": "proxy", "serving": {"release": 7, "pid": 110}}` + "\n")
	file := b.TempDir() + "/state.json"
	if err := c.WriteFile(file, state, 0o644); err != nil {
		b.Fatal(err)
	}
	in, err := host.OpenContainer(ctx, c, host.EnginePodman, "bench")
	if err != nil {
		b.Fatal(err)
	}
	if err := in.WriteFile("/tmp/state.json", state, 0o644); err != nil {
		b.Fatal(err)
	}
	for _, bc := range []struct {
		name string
		fsys release.FS
		file string
	}{
		{"sftp on the host", c, file},
		{"container session", in, "/tmp/state.json"},
		{"container exec each", host.NewContainerExecEach(c, host.EnginePodman, "bench"), "/tmp/state.json"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			for b.Loop() {
				if _, err := bc.fsys.ReadFile(bc.file); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
