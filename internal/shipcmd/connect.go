package shipcmd

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/shipdeploy/ship/internal/host"
	"github.com/shipdeploy/ship/internal/remote"
)

// defaultTimeout bounds connecting and the SSH handshake.
const defaultTimeout = 15 * time.Second

// defaultEngine runs --container's container.
const defaultEngine = host.EngineDocker

// resolve settles the settings for one TARGET argument and returns the
// hosts it names: a ship.yml target's hosts, or the argument itself.
func (a *app) resolve(cmd *cobra.Command, target string) (Settings, []string, error) {
	file, err := loadConfig(a.global.configFile, cmd.Flags().Changed("config"))
	if err != nil {
		return Settings{}, nil, err
	}
	s := file.Settings
	hosts := []string{target}
	if t, ok := file.Targets[target]; ok {
		s = s.overlay(t.Settings)
		hosts = t.Hosts
		if len(hosts) == 0 {
			return s, nil, fmt.Errorf("target %q in %s has no hosts", target, a.global.configFile)
		}
	}
	env, err := envSettings(a.getenv)
	if err != nil {
		return s, nil, err
	}
	s = s.overlay(env).overlay(a.flagSettings(cmd))
	return s, hosts, nil
}

// flagSettings holds the global flags that were given.
func (a *app) flagSettings(cmd *cobra.Command) Settings {
	var s Settings
	f := cmd.Flags()
	g := a.global
	if f.Changed("path") {
		s.Path = &g.path
	}
	if f.Changed("user") {
		s.User = &g.user
	}
	if f.Changed("port") {
		s.Port = &g.port
	}
	if f.Changed("key") {
		s.Key = &g.key
	}
	if f.Changed("known-hosts") {
		s.KnownHosts = &g.knownHosts
	}
	if f.Changed("jump") {
		s.Jump = &g.jump
	}
	if f.Changed("timeout") {
		s.Timeout = &g.timeout
	}
	if f.Changed("container") {
		s.Container = &g.container
	}
	if f.Changed("engine") {
		s.Engine = &g.engine
	}
	return s
}

// dial connects to one host: "local" is this machine, anything else SSH;
// with a container set, the host is that container on the machine.
func (a *app) dial(ctx context.Context, target string, s Settings) (host.Host, error) {
	h, err := a.dialMachine(ctx, target, s)
	if err != nil || strOr(s.Container, "") == "" {
		return h, err
	}
	c, err := host.OpenContainer(ctx, h, strOr(s.Engine, defaultEngine), *s.Container)
	if err != nil {
		h.Close()
		return nil, err
	}
	return c, nil
}

func (a *app) dialMachine(ctx context.Context, target string, s Settings) (host.Host, error) {
	if target == "local" {
		return host.Local{}, nil
	}
	timeout, err := durOr(s.Timeout, defaultTimeout, "--timeout")
	if err != nil {
		return nil, err
	}
	if s.Port != nil && !hasPort(target) {
		target = withPort(target, *s.Port)
	}
	c, err := remote.Dial(ctx, remote.Config{
		Target:                target,
		User:                  strOr(s.User, ""),
		KeyFile:               strOr(s.Key, ""),
		KeyText:               a.getenv("SHIP_SSH_KEY"),
		Passphrase:            a.getenv("SHIP_SSH_PASSPHRASE"),
		AskPassphrase:         a.passphrasePrompt(),
		KnownHostsFile:        strOr(s.KnownHosts, ""),
		KnownHostsText:        a.getenv("SHIP_KNOWN_HOSTS"),
		InsecureIgnoreHostKey: a.global.insecure,
		Jump:                  strOr(s.Jump, ""),
		Timeout:               timeout,
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
func (a *app) withHost(ctx context.Context, cmd *cobra.Command, target string, fn func(h host.Host, s Settings) error) error {
	s, hosts, err := a.resolve(cmd, target)
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
