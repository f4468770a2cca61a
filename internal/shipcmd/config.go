package shipcmd

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/shipdeploy/ship/internal/settings"
)

// configView is `ship config --json`.
type configView struct {
	File     string        `json:"file"` // "" when none was found
	Target   string        `json:"target,omitempty"`
	Hosts    []string      `json:"hosts,omitempty"`
	Targets  []string      `json:"targets"`
	Settings []settingView `json:"settings"`
}

// settingView is one setting's value; a secret's is "(set, hidden)" or "".
type settingView struct {
	Name   string `json:"name"`
	Value  string `json:"value"`
	From   string `json:"from"`
	Secret bool   `json:"secret,omitempty"`
}

func (a *app) newConfigCmd() *cobra.Command {
	var check, jsonOut bool
	cmd := &cobra.Command{
		Use:   "config [TARGET]",
		Short: "Show the settings a command would use and where each came from; check ship.yml",
		Long: `config prints every setting with its value and where the value came from: a
flag, a SHIP_* variable, the target's section of ship.yml, ship.yml's top
level, or the default. Secrets show only whether they are set. config takes
every settings flag, so a flag's effect can be seen before it is used.

With --check it reads ship.yml and reports every mistake in it (an unknown
key, with the nearest known one; a value of the wrong kind; a target without
hosts), and exits 2 if there is one.`,
		Example: `  ship config                  # ship.yml's top level, SHIP_* variables and defaults
  ship config prod             # what ship deploy prod would use
  ship config prod --wait 5m   # with a flag
  ship config --check          # exit 2, with the reasons, if ship.yml has a mistake`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) > 1 {
				return &usageError{cmd: "config", err: errors.New("too many arguments: config [TARGET]")}
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			target := ""
			if len(args) == 1 {
				target = args[0]
			}
			if check {
				return a.checkConfig(cmd)
			}
			view, err := a.configView(cmd, target)
			if err != nil {
				return err
			}
			if jsonOut {
				return a.writeJSON(view)
			}
			return printConfig(a.stdout, view)
		},
		ValidArgsFunction: a.completeTargets,
	}
	cmd.Flags().BoolVar(&check, "check", false, "check ship.yml and report every mistake (exit 2 if there is one)")
	cmd.Flags().BoolVar(&jsonOut, "json", false, "print JSON")
	table.AddFlags(cmd.Flags(), func(*settings.Setting) bool { return true })
	return cmd
}

// checkConfig is `ship config --check`.
func (a *app) checkConfig(cmd *cobra.Command) error {
	_, f, err := a.loadSettings(cmd)
	if err != nil {
		return err
	}
	if f.path == "" {
		return configError{fmt.Errorf("no %s to check: none in %s (name one with --config FILE or SHIP_CONFIG)", shipFileName, f.looked)}
	}
	targets := "no targets"
	if len(f.names) > 0 {
		targets = "targets " + strings.Join(f.names, ", ")
	}
	fmt.Fprintf(a.stdout, "✓ %s: no mistakes (%s)\n", f.path, targets)
	return nil
}

// configView settles the settings as a command given target would.
func (a *app) configView(cmd *cobra.Command, target string) (configView, error) {
	base, f, err := a.loadSettings(cmd)
	if err != nil {
		return configView{}, err
	}
	view := configView{File: f.path, Target: target, Targets: append([]string{}, f.names...)}
	layers := append(base, f.top)
	if target != "" {
		hosts, section, err := f.hostsOf(target)
		if err != nil {
			return view, configError{err}
		}
		view.Hosts = hosts
		if section != nil {
			layers = append(layers, *section)
		}
	}
	for _, v := range table.Resolve(layers...).All() {
		sv := settingView{Name: v.Setting.Name, Value: v.Text(), From: v.From(), Secret: v.Setting.Secret}
		if v.Setting == optConfig.Setting() && v.Source == settings.Default {
			sv.Value = f.path // the file found
		}
		view.Settings = append(view.Settings, sv)
	}
	return view, nil
}

func printConfig(w io.Writer, view configView) error {
	file := view.File
	if file == "" {
		file = "none found"
	}
	fmt.Fprintf(w, "  %-9s %s\n", shipFileName, file)
	if len(view.Targets) > 0 {
		fmt.Fprintf(w, "  %-9s %s\n", "targets", strings.Join(view.Targets, ", "))
	}
	if view.Target != "" {
		fmt.Fprintf(w, "  %-9s %s: %s\n", "target", view.Target, strings.Join(view.Hosts, ", "))
	}
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "  SETTING\tVALUE\tFROM")
	for _, s := range view.Settings {
		value := s.Value
		if value == "" && s.From == "default" {
			value = table.Lookup(s.Name).Default() // what the empty default means
		}
		if value == "" {
			value = "—"
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\n", s.Name, value, s.From)
	}
	return tw.Flush()
}
