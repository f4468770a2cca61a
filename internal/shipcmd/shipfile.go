package shipcmd

// ship.yml: where it is, what it holds, and which hosts a TARGET names.
//
//	repo: git@github.com:acme/shop.git
//	path: /app
//	shared: [.env, uploads/]
//	targets:
//	  prod:
//	    hosts: [deploy@203.0.113.10, deploy@203.0.113.11]
//	    jump: bastion.example.com
//
// Every ship.yml key of the table (settings.go) may be at the top level or
// in a target's section; the target's wins.

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/shipdeploy/ship/internal/remote"
	"github.com/shipdeploy/ship/internal/settings"
)

const shipFileName = "ship.yml"

// shipFile is ship.yml as read: the top level's values and the targets'.
type shipFile struct {
	path    string // as shown to people; "" when there is none
	dir     string // the folder holding it (absolute); "" when there is none
	looked  string // where discovery looked, when it found none
	top     settings.Layer
	targets map[string]fileTarget
	names   []string // the targets, in the file's order
}

type fileTarget struct {
	layer settings.Layer
	hosts []string
}

// findShipFile looks for ship.yml in dir, then in each folder above it up
// to the repository's root (the first one holding .git): a command run in
// a subfolder of the project finds the project's file. Outside a
// repository only dir is looked in. looked says where, when none is found.
func findShipFile(dir string) (found, looked string) {
	top := repoRoot(dir)
	if top == "" {
		top = dir
	}
	for d := dir; ; d = filepath.Dir(d) {
		name := filepath.Join(d, shipFileName)
		if st, err := os.Stat(name); err == nil && !st.IsDir() {
			return name, ""
		}
		if d == top || filepath.Dir(d) == d {
			break
		}
	}
	if top == dir {
		return "", dir
	}
	return "", dir + " up to " + top
}

// repoRoot is the nearest folder at or above dir holding .git (a folder,
// or a file in a worktree); "" when there is none.
func repoRoot(dir string) string {
	for d := dir; ; d = filepath.Dir(d) {
		if _, err := os.Lstat(filepath.Join(d, ".git")); err == nil {
			return d
		}
		if filepath.Dir(d) == d {
			return ""
		}
	}
}

// loadShipFile reads and checks the file at name, shown to people as
// shown. Every problem in it is reported at once, as *settings.Problems.
func loadShipFile(name, shown string) (*shipFile, error) {
	data, err := os.ReadFile(name)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("%s does not exist", shown)
		}
		return nil, fmt.Errorf("read %s: %w", shown, err)
	}
	f := &shipFile{path: shown, dir: filepath.Dir(name), targets: map[string]fileTarget{}}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, &settings.Problems{File: shown, List: []settings.Problem{yamlSyntax(err)}}
	}
	if len(doc.Content) == 0 {
		return f, nil // empty: no settings
	}
	if probs := f.decode(doc.Content[0], filepath.Dir(name)); len(probs) > 0 {
		return nil, &settings.Problems{File: shown, List: probs}
	}
	return f, nil
}

var yamlLine = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// yamlSyntax turns the YAML parser's error into a problem at its line.
func yamlSyntax(err error) settings.Problem {
	m := yamlLine.FindStringSubmatch(err.Error())
	if m == nil {
		return settings.Problem{Line: 1, Msg: strings.TrimPrefix(err.Error(), "yaml: ")}
	}
	line, _ := strconv.Atoi(m[1])
	return settings.Problem{Line: line, Msg: m[2] + " (is the indentation right? keys are followed by a colon and a space)"}
}

func (f *shipFile) decode(root *yaml.Node, dir string) []settings.Problem {
	top, extra, probs := table.YAMLLayer(root, settings.YAMLSection{
		Source: settings.FileTop, Dir: dir, Extra: []string{"targets"},
		Elsewhere: map[string]string{"hosts": "hosts belong to a target: targets:, then NAME:, then hosts: [user@host, …]"},
	})
	f.top = top
	if n := extra["targets"]; n != nil {
		probs = append(probs, f.decodeTargets(n, dir)...)
	}
	return probs
}

func (f *shipFile) decodeTargets(n *yaml.Node, dir string) []settings.Problem {
	if n.Kind != yaml.MappingNode {
		return []settings.Problem{{Line: n.Line, Msg: "targets: want one section per target (a name, then its hosts and settings)"}}
	}
	var probs []settings.Problem
	for i := 0; i+1 < len(n.Content); i += 2 {
		name, body := n.Content[i], n.Content[i+1]
		if _, twice := f.targets[name.Value]; twice {
			probs = append(probs, settings.Problem{Line: name.Line, Msg: "targets." + name.Value + ": given twice"})
			continue
		}
		l, extra, p := table.YAMLLayer(body, settings.YAMLSection{
			Source: settings.FileTarget, Target: name.Value, Path: "targets." + name.Value + ".", Dir: dir, Extra: []string{"hosts"},
		})
		hosts, hp := targetHosts(name, extra["hosts"])
		probs = append(append(probs, p...), hp...)
		f.targets[name.Value] = fileTarget{layer: l, hosts: hosts}
		f.names = append(f.names, name.Value)
	}
	return probs
}

// targetHosts reads a target's hosts: a list, or one host.
func targetHosts(name, n *yaml.Node) ([]string, []settings.Problem) {
	where := "targets." + name.Value
	if n == nil || n.Tag == "!!null" {
		return nil, []settings.Problem{{Line: name.Line, Msg: where + ": no hosts: add hosts: [user@host, …]"}}
	}
	items := []*yaml.Node{n}
	if n.Kind == yaml.SequenceNode {
		items = n.Content
	}
	var hosts []string
	var probs []settings.Problem
	seen := map[string]bool{}
	for _, it := range items {
		switch {
		case it.Kind != yaml.ScalarNode || strings.TrimSpace(it.Value) == "":
			probs = append(probs, settings.Problem{Line: it.Line, Msg: where + ".hosts: want a list of hosts such as [deploy@203.0.113.10, web2]"})
		case seen[it.Value]:
			probs = append(probs, settings.Problem{Line: it.Line, Msg: where + ".hosts: " + it.Value + " is named twice"})
		default:
			seen[it.Value] = true
			hosts = append(hosts, it.Value)
		}
	}
	if len(hosts) == 0 && len(probs) == 0 {
		probs = append(probs, settings.Problem{Line: n.Line, Msg: where + ".hosts: the list is empty"})
	}
	return hosts, probs
}

// hostsOf is what a TARGET argument names: a target of ship.yml (its hosts
// and its section), or one host. A bare word that is neither a target nor
// `local` nor a Host of ~/.ssh/config is a mistake, not a name to look up
// in DNS.
func (f *shipFile) hostsOf(arg string) ([]string, *settings.Layer, error) {
	if t, ok := f.targets[arg]; ok {
		return t.hosts, &t.layer, nil
	}
	if arg == "local" || strings.ContainsAny(arg, "@.:[") || remote.HasHostAlias(arg) {
		return []string{arg}, nil, nil
	}
	const server = " (a server is [user@]host[:port], or a Host of ~/.ssh/config)"
	switch {
	case len(f.names) > 0:
		return nil, nil, fmt.Errorf("unknown target %s; targets in %s: %s%s", arg, f.path, strings.Join(f.names, ", "), server)
	case f.path != "":
		return nil, nil, fmt.Errorf("unknown target %s; %s has no targets%s", arg, f.path, server)
	}
	return nil, nil, fmt.Errorf("unknown target %s: no %s in %s%s", arg, shipFileName, f.looked, server)
}
