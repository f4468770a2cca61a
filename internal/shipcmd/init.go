package shipcmd

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"text/template"

	"github.com/spf13/cobra"
	"gopkg.in/yaml.v3"

	"github.com/shipdeploy/ship/internal/deploy"
	"github.com/shipdeploy/ship/internal/remote"
)

//go:embed init/ship.yml.tmpl init/deploy.yml.tmpl
var initFiles embed.FS

// initAction is the action the workflow ship init writes uses: the main
// branch, as no release tag exists yet; the workflow says to pin it.
const initAction = "shipdeploy/ship@main"

// initPlaceholderHost stands for a server when --host is not given
// (TEST-NET-3: it never answers).
const initPlaceholderHost = "deploy@203.0.113.10"

type initFlags struct {
	hosts  []string
	repo   string
	path   string
	target string
	branch string
}

func (a *app) newInitCmd() *cobra.Command {
	f := &initFlags{}
	cmd := &cobra.Command{
		Use:   "init",
		Short: "Write a commented ship.yml and a GitHub workflow that deploys with it",
		Long: `init writes ship.yml and .github/workflows/deploy.yml at the root of this
project (the repository's top folder, else this folder), each commented, and
prints what to do next: set up the server, create the secrets, deploy. It
never writes over a file: if either exists, it writes nothing.

The repository defaults to the origin remote's URL (one with a password or
token in it is not written).`,
		Example: `  ship init --host deploy@203.0.113.10
  ship init --host deploy@web1.example.com --host deploy@web2.example.com --repo git@github.com:acme/shop.git`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error { return a.runInit(f) },
	}
	fl := cmd.Flags()
	fl.StringArrayVar(&f.hosts, "host", nil, "a server of the target, [user@]host[:port] (repeat for several)")
	fl.StringVar(&f.repo, "repo", "", "the repository URL the servers fetch from (default: the origin remote)")
	fl.StringVar(&f.path, "path", deploy.DefaultRoot, "APP_ROOT on the servers")
	fl.StringVar(&f.target, "target", "prod", "the target's name in ship.yml")
	fl.StringVar(&f.branch, "branch", "main", "the branch whose pushes the workflow deploys")
	return cmd
}

func (a *app) runInit(f *initFlags) error {
	dir := a.workDir()
	if top := repoRoot(dir); top != "" {
		dir = top
	}
	values, err := a.initValues(f, dir)
	if err != nil {
		return &usageError{cmd: "init", err: err}
	}
	files := map[string]string{
		filepath.Join(dir, shipFileName):                         "init/ship.yml.tmpl",
		filepath.Join(dir, ".github", "workflows", "deploy.yml"): "init/deploy.yml.tmpl",
	}
	names := slices.Sorted(maps.Keys(files))
	var there []string
	for _, name := range names {
		if _, err := os.Lstat(name); err == nil {
			there = append(there, name)
		}
	}
	if len(there) > 0 {
		return fmt.Errorf("%s already exists: ship init writes nothing over a file (move it away, or edit it by hand)", strings.Join(there, " and "))
	}
	for _, name := range names {
		if err := writeTemplate(name, files[name], values); err != nil {
			return err
		}
		rel, _ := filepath.Rel(a.workDir(), name)
		fmt.Fprintf(a.stdout, "wrote %s\n", rel)
	}
	a.initNextSteps(values)
	return nil
}

// initValues are what the templates say, checked.
func (a *app) initValues(f *initFlags, dir string) (map[string]string, error) {
	if !validTargetName(f.target) {
		return nil, fmt.Errorf("--target %q: a name of letters, digits, - and _", f.target)
	}
	if !strings.HasPrefix(f.path, "/") {
		return nil, fmt.Errorf("--path %q must be absolute", f.path)
	}
	if f.branch == "" || strings.ContainsAny(f.branch, " \t\n:~^?*[\\") {
		return nil, fmt.Errorf("--branch %q is not a branch name", f.branch)
	}
	hosts := f.hosts
	if len(hosts) == 0 {
		hosts = []string{initPlaceholderHost}
	}
	var quoted []string
	for _, h := range hosts {
		if _, _, _, err := remote.SplitTarget(h); err != nil || strings.ContainsAny(h, " \t\n,{}#\"'") {
			return nil, fmt.Errorf("--host %q is not [user@]host[:port]", h)
		}
		quoted = append(quoted, yamlScalar(h))
	}
	repo := f.repo
	if repo == "" {
		repo = originURL(dir)
	}
	if strings.ContainsAny(repo, "\n\x00") {
		return nil, fmt.Errorf("--repo %q is not a repository URL", repo)
	}
	v := map[string]string{"Target": f.target, "Path": yamlScalar(f.path), "RawPath": f.path, "Hosts": strings.Join(quoted, ", "),
		"Branch": f.branch, "Action": initAction, "FirstHost": hosts[0], "Placeholder": ""}
	if repo != "" {
		v["Repo"] = yamlScalar(repo)
	}
	if len(f.hosts) == 0 {
		v["Placeholder"] = "1"
	}
	return v, nil
}

// originURL is the origin remote's URL, unless it carries a secret.
func originURL(dir string) string {
	out, err := exec.Command("git", "-C", dir, "remote", "get-url", "origin").Output()
	if err != nil {
		return ""
	}
	url := strings.TrimSpace(string(out))
	if deploy.RedactURL(url) != url {
		return "" // a token in the URL must not land in a committed file
	}
	return url
}

func validTargetName(s string) bool {
	for _, r := range s {
		if !(r == '-' || r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
			return false
		}
	}
	return s != ""
}

// yamlScalar is s as YAML writes it: plain when that reads back the same.
func yamlScalar(s string) string {
	out, err := yaml.Marshal(s)
	if err != nil {
		return fmt.Sprintf("%q", s)
	}
	return strings.TrimSpace(string(out))
}

func writeTemplate(name, tmpl string, values map[string]string) error {
	t, err := template.ParseFS(initFiles, tmpl)
	if err != nil {
		return err
	}
	var b bytes.Buffer
	if err := t.Execute(&b, values); err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
		return err
	}
	// O_EXCL: a file that appeared since the check is not written over.
	file, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("%s appeared meanwhile: not written over", name)
	}
	if err != nil {
		return err
	}
	if _, err := file.Write(b.Bytes()); err != nil {
		file.Close()
		return err
	}
	return file.Close()
}

// initNextSteps prints the three steps after ship init.
func (a *app) initNextSteps(v map[string]string) {
	_, host, port, _ := remote.SplitTarget(v["FirstHost"]) // checked by initValues
	if port == 0 {
		port = 22
	}
	w := a.stdout
	fmt.Fprintln(w, "\nNext:")
	if v["Placeholder"] != "" {
		fmt.Fprintf(w, "  0. Put your servers in ship.yml (hosts: holds %s, a placeholder).\n", initPlaceholderHost)
	}
	fmt.Fprintf(w, `  1. Set up the server: a deploy user with your SSH key, bun, and the receiver
     (README: Quick start on a server), and the folder %s owned by that user.
  2. Create the secrets in GitHub (Settings → Secrets and variables → Actions):
     SHIP_SSH_KEY      the deploy user's private key
     SHIP_KNOWN_HOSTS  the output of: ssh-keyscan -p %d %s
     and one for each secret: name of ship.yml's env: (passed in deploy.yml's env:)
  3. Deploy: ship deploy %s --upload .   (or push to %s: the workflow deploys it)
`, v["RawPath"], port, host, v["Target"], v["Branch"])
}
