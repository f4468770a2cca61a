package shipcmd

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// fileConfig is ship.yml. Every field is optional; a target's fields win
// over the top-level ones.
//
//	repo: git@github.com:acme/shop.git
//	path: /app
//	shared: [.env, uploads/]
//	targets:
//	  prod:
//	    hosts: [deploy@203.0.113.10, deploy@203.0.113.11]
//	    jump: bastion.example.com
type fileConfig struct {
	Settings `yaml:",inline"`
	Targets  map[string]targetConfig `yaml:"targets"`
}

type targetConfig struct {
	Settings `yaml:",inline"`
	Hosts    []string `yaml:"hosts"`
}

// Settings are the values that flags, SHIP_* variables and ship.yml share.
// Pointers tell "not given" from a zero value.
type Settings struct {
	Path       *string   `yaml:"path"`
	Repo       *string   `yaml:"repo"`
	Ref        *string   `yaml:"ref"`
	Keep       *int      `yaml:"keep"`
	Install    *string   `yaml:"install"`
	Build      *string   `yaml:"build"`
	Shared     *[]string `yaml:"shared"`
	Wait       *string   `yaml:"wait"`
	LockWait   *string   `yaml:"lock_wait"`
	User       *string   `yaml:"user"`
	Port       *int      `yaml:"port"`
	Jump       *string   `yaml:"jump"`
	Key        *string   `yaml:"key"`
	KnownHosts *string   `yaml:"known_hosts"`
	Timeout    *string   `yaml:"timeout"`
	Parallel   *int      `yaml:"parallel"`
	Container  *string   `yaml:"container"`
	Engine     *string   `yaml:"engine"`
}

// overlay returns s with every field that o sets taken from o.
func (s Settings) overlay(o Settings) Settings {
	if o.Path != nil {
		s.Path = o.Path
	}
	if o.Repo != nil {
		s.Repo = o.Repo
	}
	if o.Ref != nil {
		s.Ref = o.Ref
	}
	if o.Keep != nil {
		s.Keep = o.Keep
	}
	if o.Install != nil {
		s.Install = o.Install
	}
	if o.Build != nil {
		s.Build = o.Build
	}
	if o.Shared != nil {
		s.Shared = o.Shared
	}
	if o.Wait != nil {
		s.Wait = o.Wait
	}
	if o.LockWait != nil {
		s.LockWait = o.LockWait
	}
	if o.User != nil {
		s.User = o.User
	}
	if o.Port != nil {
		s.Port = o.Port
	}
	if o.Jump != nil {
		s.Jump = o.Jump
	}
	if o.Key != nil {
		s.Key = o.Key
	}
	if o.KnownHosts != nil {
		s.KnownHosts = o.KnownHosts
	}
	if o.Timeout != nil {
		s.Timeout = o.Timeout
	}
	if o.Parallel != nil {
		s.Parallel = o.Parallel
	}
	if o.Container != nil {
		s.Container = o.Container
	}
	if o.Engine != nil {
		s.Engine = o.Engine
	}
	return s
}

// loadConfig reads ship.yml; a missing file is no error unless it was named
// explicitly.
func loadConfig(name string, explicit bool) (*fileConfig, error) {
	data, err := os.ReadFile(name)
	if errors.Is(err, fs.ErrNotExist) && !explicit {
		return &fileConfig{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	var c fileConfig
	dec := yaml.NewDecoder(strings.NewReader(string(data)))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%s: %w (see `ship deploy --help` for the fields)", name, err)
	}
	return &c, nil
}

// envSettings reads SHIP_* variables.
func envSettings(getenv func(string) string) (Settings, error) {
	var s Settings
	str := func(name string) *string {
		if v := getenv(name); v != "" {
			return &v
		}
		return nil
	}
	s.Path, s.Repo, s.Ref = str("SHIP_PATH"), str("SHIP_REPO"), str("SHIP_REF")
	s.Install, s.Build = str("SHIP_INSTALL"), str("SHIP_BUILD")
	s.Wait, s.LockWait, s.Timeout = str("SHIP_WAIT"), str("SHIP_LOCK_WAIT"), str("SHIP_TIMEOUT")
	s.User, s.Jump, s.Key = str("SHIP_USER"), str("SHIP_JUMP"), str("SHIP_SSH_KEY_FILE")
	s.KnownHosts = str("SHIP_KNOWN_HOSTS_FILE")
	s.Container, s.Engine = str("SHIP_CONTAINER"), str("SHIP_ENGINE")
	for name, dst := range map[string]**int{"SHIP_KEEP": &s.Keep, "SHIP_PORT": &s.Port, "SHIP_PARALLEL": &s.Parallel} {
		if v := getenv(name); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil {
				return s, fmt.Errorf("%s=%q is not a number", name, v)
			}
			*dst = &n
		}
	}
	if v := getenv("SHIP_SHARED"); v != "" {
		list := strings.Fields(strings.ReplaceAll(v, ",", " "))
		s.Shared = &list
	}
	return s, nil
}

func strOr(p *string, def string) string {
	if p != nil {
		return *p
	}
	return def
}

func intOr(p *int, def int) int {
	if p != nil {
		return *p
	}
	return def
}

func durOr(p *string, def time.Duration, what string) (time.Duration, error) {
	if p == nil {
		return def, nil
	}
	d, err := time.ParseDuration(*p)
	if err != nil {
		if n, nerr := strconv.Atoi(*p); nerr == nil {
			return time.Duration(n) * time.Second, nil
		}
		return 0, fmt.Errorf("%s %q is not a duration (examples: 60s, 2m, 0)", what, *p)
	}
	return d, nil
}
