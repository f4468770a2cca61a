package shipcmd

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/shipdeploy/ship/internal/host"
	"github.com/shipdeploy/ship/internal/remote"
	"github.com/shipdeploy/ship/internal/settings"
)

// settle resolves the settings for one TARGET argument and returns the
// hosts it names: a ship.yml target's hosts, or the argument itself.
func (a *app) settle(cmd *cobra.Command, target string) (*settings.Values, []string, error) {
	base, f, err := a.loadSettings(cmd)
	if err != nil {
		return nil, nil, err
	}
	hosts, section, err := f.hostsOf(target)
	if err != nil {
		return nil, nil, configError{err}
	}
	layers := append(base, f.top)
	if section != nil {
		layers = append(layers, *section)
	}
	return table.Resolve(layers...), hosts, nil
}

// loadSettings reads what every target shares: the flags, the SHIP_*
// variables and ship.yml.
func (a *app) loadSettings(cmd *cobra.Command) ([]settings.Layer, *shipFile, error) {
	flags := table.FlagLayer(cmd.Flags())
	env, err := table.EnvLayer(a.getenv)
	if err != nil {
		return nil, nil, configError{err}
	}
	base := []settings.Layer{flags, env}
	f, err := a.shipFile(table.Resolve(base...))
	if err != nil {
		return nil, nil, configError{err}
	}
	return base, f, nil
}

// shipFile reads the ship.yml that --config or SHIP_CONFIG names, which
// must exist, or else the one found from the working folder up.
func (a *app) shipFile(v *settings.Values) (*shipFile, error) {
	wd := a.workDir()
	if optConfig.Given(v) {
		name := optConfig.From(v)
		if !filepath.IsAbs(name) {
			name = filepath.Join(wd, name)
		}
		f, err := loadShipFile(name, optConfig.From(v))
		if _, ok := settings.AsProblems(err); err != nil && !ok {
			return nil, fmt.Errorf("%w (named by %s)", err, v.Get("config").From())
		}
		return f, err
	}
	found, looked := findShipFile(wd)
	if found == "" {
		return &shipFile{looked: looked}, nil
	}
	shown := found
	if rel, err := filepath.Rel(wd, found); err == nil {
		shown = rel
	}
	return loadShipFile(found, shown)
}

// workDir is where ship runs: ship.yml, and a relative --config, are found
// from it (tests give each app its own).
func (a *app) workDir() string {
	if a.wd != "" {
		return a.wd
	}
	wd, err := os.Getwd()
	if err != nil {
		return "."
	}
	return wd
}

// dial connects to one host: "local" is this machine, anything else SSH;
// with a container set, the host is that container on the machine.
func (a *app) dial(ctx context.Context, target string, s *settings.Values) (host.Host, error) {
	h, err := a.dialMachine(ctx, target, s)
	name := optContainer.From(s)
	if err != nil || name == "" {
		return h, err
	}
	c, err := host.OpenContainer(ctx, h, optEngine.From(s), name)
	if err != nil {
		h.Close()
		return nil, err
	}
	return c, nil
}

func (a *app) dialMachine(ctx context.Context, target string, s *settings.Values) (host.Host, error) {
	if target == "local" {
		return host.Local{}, nil
	}
	if port := optPort.From(s); port != 0 && !hasPort(target) {
		target = withPort(target, port)
	}
	c, err := remote.Dial(ctx, remote.Config{
		Target:                target,
		User:                  optUser.From(s),
		KeyFile:               optKey.From(s),
		KeyText:               optKeyText.From(s),
		Passphrase:            optPassphrase.From(s),
		AskPassphrase:         a.passphrasePrompt(),
		KnownHostsFile:        optKnownHosts.From(s),
		KnownHostsText:        optKnownHostsText.From(s),
		InsecureIgnoreHostKey: optInsecure.From(s),
		Jump:                  optJump.From(s),
		Timeout:               optTimeout.From(s),
		Warn:                  a.stderr,
	})
	if err != nil {
		return nil, fmt.Errorf("connect to %s: %w", target, err)
	}
	return c, nil
}

func hasPort(target string) bool {
	_, hostPart, _ := strings.Cut(target, "@")
	if !strings.Contains(target, "@") {
		hostPart = target
	}
	if strings.HasPrefix(hostPart, "[") {
		return strings.Contains(hostPart, "]:")
	}
	return strings.Count(hostPart, ":") == 1
}

func withPort(target string, port int) string {
	user, hostPart, found := strings.Cut(target, "@")
	if !found {
		user, hostPart = "", target
	}
	if strings.Contains(hostPart, ":") && !strings.HasPrefix(hostPart, "[") {
		hostPart = "[" + hostPart + "]"
	}
	hostPart += ":" + strconv.Itoa(port)
	if found {
		return user + "@" + hostPart
	}
	return hostPart
}

// withHost dials target, runs fn, and closes the connection.
func (a *app) withHost(ctx context.Context, cmd *cobra.Command, target string, fn func(h host.Host, s *settings.Values) error) error {
	s, hosts, err := a.settle(cmd, target)
	if err != nil {
		return err
	}
	for _, hs := range hosts {
		h, err := a.dial(ctx, hs, s)
		if err != nil {
			return err
		}
		err = fn(h, s)
		h.Close()
		if err != nil {
			return err
		}
	}
	return nil
}

// writeJSON prints v as indented JSON on stdout (the --json of read commands).
func (a *app) writeJSON(v any) error {
	enc := json.NewEncoder(a.stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
