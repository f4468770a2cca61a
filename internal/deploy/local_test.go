package deploy

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/shipdeploy/ship/internal/host"
	"github.com/shipdeploy/ship/internal/release"
	"github.com/shipdeploy/ship/internal/testenv"
)

func TestLocalDeploySmoke(t *testing.T) {
	testenv.RequireGit(t)
	repo := testenv.AppRepo(t)
	root := filepath.Join(t.TempDir(), "app root")
	var out bytes.Buffer
	for i := 0; i < 3; i++ {
		res, err := Deploy(context.Background(), host.Local{}, Options{Root: root, Repo: repo, Ref: "main", By: "test", Out: &out})
		if err != nil {
			t.Fatalf("deploy %d: %v\n%s", i, err, out.String())
		}
		if res.Release != i+1 {
			t.Errorf("release = %d, want %d", res.Release, i+1)
		}
	}
	t.Log(out.String())
	link, err := os.Readlink(filepath.Join(root, "current"))
	if err != nil || link != "releases/3" {
		t.Fatalf("current -> %q, %v", link, err)
	}
	snap, err := release.Read(release.LocalFS{}, release.Layout{Root: root})
	if err != nil {
		t.Fatal(err)
	}
	if len(snap.Releases) != 3 || !snap.Releases[2].Finished() {
		t.Fatalf("releases: %+v", snap.Releases)
	}
}
