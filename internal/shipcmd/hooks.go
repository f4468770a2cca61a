package shipcmd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/shipdeploy/ship/internal/deploy"
)

// Hooks are executable files in .ship/hooks/ of the project, run on the
// machine where ship runs (Kamal's .kamal/hooks are the model): pre-deploy
// and pre-rollback before any server is touched (one that fails stops the
// command), post-deploy and post-rollback once the command ended, however
// it ended (SHIP_STATUS says how; one that fails makes ship exit 1).
const hooksDir = ".ship/hooks"

// hooks is one command's hooks: where they are and what they are told.
type hooks struct {
	dir     string // the project's folder: hooks run there
	kind    string // deploy | rollback
	env     []string
	out     io.Writer
	started time.Time
}

// hooksFor finds the hooks of the project: next to ship.yml, else at the
// repository's root, else in the working folder.
func (a *app) hooksFor(cmd *cobra.Command, kind string, targets []string, hosts []string, out io.Writer) *hooks {
	dir := a.workDir()
	if _, f, err := a.loadSettings(cmd); err == nil && f.dir != "" {
		dir = f.dir
	} else if top := repoRoot(dir); top != "" {
		dir = top
	}
	return &hooks{dir: dir, kind: kind, out: out, started: time.Now(), env: []string{
		"SHIP_TARGET=" + strings.Join(targets, " "),
		"SHIP_HOSTS=" + strings.Join(hosts, ","),
		"SHIP_BY=" + a.who(),
	}}
}

// pre runs pre-KIND with what is known before the command: the release
// (a rollback's N, when given), the commit (an upload's) and the ref. An
// error means the command must not run.
func (h *hooks) pre(ctx context.Context, rel int, commit, ref string) error {
	err := h.run(ctx, "pre-"+h.kind, h.facts(rel, commit, ref))
	if err != nil {
		return fmt.Errorf("%w: nothing was %s, no server was touched", err, map[string]string{"deploy": "deployed", "rollback": "rolled back"}[h.kind])
	}
	return nil
}

// post runs post-KIND with the outcome of the command.
func (h *hooks) post(ctx context.Context, res *deploy.FleetResult, ref string, cmdErr error) error {
	rel, commit := 0, ""
	if res != nil {
		rel, commit = res.Release, res.Commit
	}
	env := append(h.facts(rel, commit, ref),
		"SHIP_STATUS="+statusWord(cmdErr),
		"SHIP_RUNTIME="+strconv.Itoa(int(time.Since(h.started).Round(time.Second).Seconds())))
	// A hook run after an interrupt still runs: it may be what reports it.
	return h.run(context.WithoutCancel(ctx), "post-"+h.kind, env)
}

func (h *hooks) facts(rel int, commit, ref string) []string {
	r := ""
	if rel > 0 {
		r = strconv.Itoa(rel)
	}
	return append(append([]string(nil), h.env...), "SHIP_RELEASE="+r, "SHIP_COMMIT="+commit, "SHIP_REF="+ref)
}

// statusWord is how a command ended, for SHIP_STATUS.
func statusWord(err error) string {
	if err == nil {
		return "ok"
	}
	switch k := errorKind(err); k {
	case "locked", "interrupted", "unknown":
		return k
	}
	return "failed"
}

// run runs the hook called name, if the project has one. Its output goes
// where ship's progress goes.
func (h *hooks) run(ctx context.Context, name string, env []string) error {
	path := filepath.Join(h.dir, hooksDir, name)
	st, err := os.Stat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil
	case err != nil:
		return fmt.Errorf("the %s hook: %w", name, err)
	case st.IsDir() || st.Mode()&0o111 == 0:
		return fmt.Errorf("the %s hook %s is not an executable file: chmod +x it (or remove it)", name, path)
	}
	fmt.Fprintf(h.out, "→ %s/%s\n", hooksDir, name)
	c := exec.CommandContext(ctx, path)
	c.Dir, c.Stdout, c.Stderr = h.dir, h.out, h.out
	c.Env = append(os.Environ(), env...)
	c.WaitDelay = 5 * time.Second // a background child holding the output must not hang ship
	if err := c.Run(); err != nil {
		return fmt.Errorf("the %s hook failed (%v)", name, err)
	}
	return nil
}
