package shipcmd

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/shipdeploy/ship/internal/release"
	"github.com/shipdeploy/ship/internal/settings"
)

// completionBound bounds what completing a release number may cost: the
// shell waits for it. One host is read, in at most this long.
const completionBound = 4 * time.Second

const noFiles = cobra.ShellCompDirectiveNoFileComp

// completeTargets completes a TARGET: the targets of ship.yml (found or
// named as for the command itself), and local. Only deploy takes several.
func (a *app) completeTargets(cmd *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
	if len(args) > 0 && cmd.Name() != "deploy" {
		return nil, noFiles
	}
	var out []cobra.Completion
	if _, f, err := a.loadSettings(cmd); err == nil {
		for _, name := range f.names {
			if strings.HasPrefix(name, toComplete) && !slices.Contains(args, name) {
				out = append(out, cobra.CompletionWithDesc(name, strings.Join(f.targets[name].hosts, ", ")))
			}
		}
	}
	if strings.HasPrefix("local", toComplete) && !slices.Contains(args, "local") {
		out = append(out, cobra.CompletionWithDesc("local", "this machine, without SSH"))
	}
	return out, noFiles
}

// completeRollback completes rollback's TARGET, then N: the releases a
// rollback can go to (finished, not bad, not current), newest first, read
// from the target's first host (a fleet's hosts share their numbers).
func (a *app) completeRollback(cmd *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
	if len(args) == 0 {
		return a.completeTargets(cmd, args, toComplete)
	}
	if len(args) > 1 {
		return nil, noFiles
	}
	s, hosts, err := a.settle(cmd, args[0])
	if err != nil {
		return nil, noFiles
	}
	ctx := cmd.Context()
	if ctx == nil {
		ctx = context.Background()
	}
	ctx, cancel := context.WithTimeout(ctx, completionBound)
	defer cancel()
	snap, err := a.readReleases(ctx, hosts[0], s)
	if err != nil {
		cobra.CompDebugln(fmt.Sprintf("read releases of %s: %v", hosts[0], err), true)
		return nil, noFiles
	}
	var out []cobra.Completion
	for i := len(snap.Releases) - 1; i >= 0; i-- {
		r := snap.Releases[i]
		n := strconv.Itoa(r.Number)
		if r.Good() && r.Number != snap.Current && strings.HasPrefix(n, toComplete) {
			out = append(out, cobra.CompletionWithDesc(n, describeRelease(r)))
		}
	}
	return out, noFiles | cobra.ShellCompDirectiveKeepOrder
}

// readReleases reads one host's releases within ctx: the connection is
// closed when ctx ends, which ends the reads.
func (a *app) readReleases(ctx context.Context, hs string, s *settings.Values) (*release.Snapshot, error) {
	h, err := a.dial(ctx, hs, s)
	if err != nil {
		return nil, err
	}
	type result struct {
		snap *release.Snapshot
		err  error
	}
	done := make(chan result, 1)
	go func() {
		snap, err := release.Read(h, release.Layout{Root: optPath.From(s)})
		done <- result{snap, err}
	}()
	select {
	case r := <-done:
		h.Close()
		return r.snap, r.err
	case <-ctx.Done():
		h.Close()
		return nil, ctx.Err()
	}
}

func describeRelease(r release.Release) string {
	parts := []string{release.ShortCommit(r.Info.Commit), r.Info.Ref, builtAt(r.Info.BuiltAt)}
	if r.Info.By != "" {
		parts = append(parts, "by "+r.Info.By)
	}
	return strings.Join(slices.DeleteFunc(parts, func(p string) bool { return p == "" }), " · ")
}

// finishCommands adds cobra's help and completion commands now rather than
// at run time, so that they carry examples like every other command.
func finishCommands(root *cobra.Command) {
	root.InitDefaultHelpCmd()
	root.InitDefaultCompletionCmd()
	examples := map[string]string{
		"help": "  ship help deploy",
		"completion": `  source <(ship completion bash)       # bash, this shell
  ship completion zsh > "${fpath[1]}/_ship"
  ship completion fish > ~/.config/fish/completions/ship.fish`,
		"bash":       "  source <(ship completion bash)\n  ship completion bash > /etc/bash_completion.d/ship",
		"zsh":        `  ship completion zsh > "${fpath[1]}/_ship"`,
		"fish":       "  ship completion fish | source\n  ship completion fish > ~/.config/fish/completions/ship.fish",
		"powershell": "  ship completion powershell | Out-String | Invoke-Expression",
	}
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		if c.Example == "" {
			c.Example = examples[c.Name()]
		}
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(root)
}
