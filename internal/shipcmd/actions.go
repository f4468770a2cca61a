package shipcmd

// `ship deploy` inside GitHub Actions (GITHUB_ACTIONS=true), and GitHub
// Deployments from anywhere with a token.
//
// The runner reads workflow commands from every line a step prints: a line
// that starts with "::name::" (after leading spaces) or holds "##[name]"
// anywhere. Lines from the target (a build log, an npm postinstall script)
// are not ours, so they are printed only inside a ::stop-commands:: block
// whose token is random per block; ship's own lines that carry foreign text
// go through a guard that fences them the same way.

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"sync"
	"unicode"

	"github.com/spf13/cobra"

	"github.com/shipdeploy/ship/internal/deploy"
	"github.com/shipdeploy/ship/internal/github"
	"github.com/shipdeploy/ship/internal/release"
)

// secretEnv are the variables whose values are masked in the Actions log
// before ship prints anything: the tables' secrets, and the receiver's.
// A function, not a variable: the tables are filled as the package starts.
func secretEnv() []string { return append(secretVariables(), "GIT_SSH_KEY") }

// minKeyLineMask: lines of a multi-line secret (a PEM key) shorter than this
// are not masked: a key's last line can be a few characters that also occur
// everywhere in a log, and masking them would garble it while hiding nothing
// that matters.
const minKeyLineMask = 4

// ciRun is one `ship deploy` as GitHub sees it: the Actions log, summary and
// outputs, and the deployment with its statuses. Outside Actions and without
// a token it does nothing.
type ciRun struct {
	actions        bool
	getenv         func(string) string
	out            io.Writer // progress stream: workflow commands go here
	guard          *commandGuard
	stderr         io.Writer
	environment    string
	environmentURL string
	gh             github.Config
	deployment     *github.Deployment
	tried          bool   // a deployment was attempted
	commit         string // what is being deployed, as far as known up front
	rep            *actionsReporter
}

// startCI masks the secrets (inside Actions) and returns the hooks for this
// deploy and the stream to print progress to: inside Actions, a guard that
// fences foreign lines.
func (a *app) startCI(cmd *cobra.Command, progress io.Writer) (*ciRun, io.Writer) {
	c := &ciRun{actions: a.getenv("GITHUB_ACTIONS") == "true", getenv: a.getenv, out: progress, stderr: a.stderr}
	// Flags and variables only: these have no ship.yml key, and a mistake
	// elsewhere is reported by the deploy's own settling.
	env, _ := table.EnvLayer(a.getenv)
	v := table.Resolve(table.FlagLayer(cmd.Flags()), env)
	c.environment, c.environmentURL = optEnvironment.From(v), optEnvironmentURL.From(v)
	token := optGitHubToken.From(v)
	c.gh = github.FromEnv(a.getenv)
	c.gh.Token = token
	if !c.actions {
		return c, progress
	}
	secrets := []string{token}
	for _, name := range secretEnv() {
		secrets = append(secrets, a.getenv(name))
	}
	maskSecrets(progress, secrets)
	c.guard = &commandGuard{w: progress}
	return c, c.guard
}

// mask hides more secrets in the Actions log from now on.
func (c *ciRun) mask(secrets []string) {
	if c.actions {
		maskSecrets(c.out, secrets)
	}
}

// reporter starts the GitHub deployment and returns the Actions reporter,
// or outside Actions the text reporter (live lines on a terminal).
func (c *ciRun) reporter(ctx context.Context, opts deploy.Options) deploy.Reporter {
	if c.commit == "" {
		c.commit = c.deployedRef(opts)
	}
	c.startDeployment(ctx)
	if !c.actions {
		return deploy.NewReporter(c.out, opts.Verbose)
	}
	c.rep = newActionsReporter(c.out)
	return c.rep
}

// deployedRef is what the deployment is for: the uploaded commit, else the
// run's commit when the ref is the run's branch, else the ref as given.
func (c *ciRun) deployedRef(opts deploy.Options) string {
	switch sha := c.getenv("GITHUB_SHA"); {
	case opts.Commit != "":
		return opts.Commit
	case opts.Ref == "" || opts.Ref == sha || opts.Ref == c.getenv("GITHUB_REF_NAME"):
		if sha != "" {
			return sha
		}
	}
	if opts.Ref == "" {
		return deploy.DefaultRef
	}
	return opts.Ref
}

func (c *ciRun) startDeployment(ctx context.Context) {
	if !c.gh.Enabled() || c.tried {
		return
	}
	c.tried = true
	if c.gh.Repository == "" {
		c.warn("a GitHub token was given but GITHUB_REPOSITORY is not set: no deployment is recorded")
		return
	}
	cfg := c.gh
	cfg.Ref, cfg.Environment, cfg.EnvironmentURL = c.commit, c.environment, c.environmentURL
	cfg.Description = "ship is deploying " + release.ShortCommit(c.commit)
	d, err := github.Start(ctx, cfg)
	c.deployment = d // may be set with an error: it is closed at the end
	if err != nil {
		c.warn(err.Error())
	}
}

// finish runs after the deploy, whether it worked or not: the deployment's
// last status, and inside Actions the error annotation, the job summary and
// the step's outputs. Nothing here changes the exit code.
func (c *ciRun) finish(ctx context.Context, res *deploy.FleetResult, err error) {
	if c.rep != nil {
		c.rep.flush()
	}
	if c.guard != nil {
		c.guard.Flush()
	}
	ctx = context.WithoutCancel(ctx) // report a cancelled deploy too
	if c.deployment != nil {
		if ferr := c.deployment.Finish(ctx, err == nil, c.describe(res, err)); ferr != nil {
			c.warn(ferr.Error())
		}
	}
	if !c.actions {
		return
	}
	if err != nil {
		title, msg := errorAnnotation(res, err)
		fmt.Fprintf(c.out, "::error title=%s::%s\n", escapeProperty(title), escapeData(msg))
	}
	if werr := c.writeSummary(res, err); werr != nil {
		c.warn("write the job summary: " + werr.Error())
	}
	if werr := c.writeOutputs(res, err); werr != nil {
		c.warn("write the step outputs: " + werr.Error())
	}
}

func (c *ciRun) warn(msg string) {
	if c.actions {
		fmt.Fprintf(c.out, "::warning title=ship::%s\n", escapeData(msg))
		return
	}
	fmt.Fprintf(c.stderr, "warning: %s\n", msg)
}

// describe is the deployment's last status for people.
func (c *ciRun) describe(res *deploy.FleetResult, err error) string {
	if err != nil {
		if h := failedHost(res); h != nil && h.FailedStage != "" {
			return fmt.Sprintf("failed at %s on %s", h.FailedStage, h.Target)
		}
		return "failed: " + err.Error()
	}
	var hosts []string
	for _, h := range res.Hosts {
		hosts = append(hosts, h.Target)
	}
	return fmt.Sprintf("release %d (%s) on %s", res.Release, release.ShortCommit(res.Commit), strings.Join(hosts, ", "))
}

// failedHost is the first host that did not finish, the one to name.
func failedHost(res *deploy.FleetResult) *deploy.Result {
	if res == nil {
		return nil
	}
	for _, h := range res.Hosts {
		if h.Outcome == deploy.OutcomeFailed || h.Outcome == deploy.OutcomeUnknown {
			return h
		}
	}
	for _, h := range res.Hosts {
		if h.Outcome != deploy.OutcomeOK {
			return h
		}
	}
	return nil
}

func errorAnnotation(res *deploy.FleetResult, err error) (title, msg string) {
	msg = err.Error()
	h := failedHost(res)
	if h == nil {
		return "ship deploy failed", msg
	}
	title = fmt.Sprintf("ship deploy failed on %s", h.Target)
	if h.FailedStage != "" {
		title = fmt.Sprintf("ship deploy failed at %s on %s", h.FailedStage, h.Target)
	}
	var fe *deploy.FleetError
	switch {
	case errors.Is(err, release.ErrLocked):
		msg += ". Nothing was changed; wait for the other deploy, or run ship unlock if it is dead"
	case errors.As(err, &fe) && fe.Switched:
		msg += ". The fleet is mixed; to put every host on one release: " + fe.Realign
	case h.Previous > 0:
		msg += fmt.Sprintf(". current is release %d, which keeps serving", h.Previous)
	}
	return title, msg
}

// writeSummary appends a Markdown table to $GITHUB_STEP_SUMMARY: a row per
// host.
func (c *ciRun) writeSummary(res *deploy.FleetResult, err error) error {
	path := c.getenv("GITHUB_STEP_SUMMARY")
	if path == "" {
		return nil
	}
	var b strings.Builder
	verdict := "✓ deployed"
	if err != nil {
		verdict = "✗ failed"
	}
	env := ""
	if c.environment != "" {
		env = " to " + mdCell(c.environment)
	}
	fmt.Fprintf(&b, "### ship deploy%s: %s\n\n", env, verdict)
	stages := deploy.StageNames()
	b.WriteString("| target | release | commit |")
	for _, s := range stages {
		b.WriteString(" " + s + " |")
	}
	b.WriteString(" total | result | URL |\n|---|---:|---|")
	b.WriteString(strings.Repeat("---:|", len(stages)+1))
	b.WriteString("---|---|\n")
	if res == nil || len(res.Hosts) == 0 {
		b.WriteString(c.errorRow(err, len(stages)))
	} else {
		for _, h := range res.Hosts {
			b.WriteString(c.summaryRow(res, h))
		}
	}
	b.WriteString("\n")
	return appendFile(path, b.String())
}

// errorRow is the summary's row when no host was reached.
func (c *ciRun) errorRow(err error, stages int) string {
	cells := []string{"–", "–", "–"}
	for range stages + 1 {
		cells = append(cells, "–")
	}
	msg := "not finished"
	if err != nil {
		msg = err.Error()
	}
	cells = append(cells, "✗ "+mdCell(msg), orDash(mdCell(c.environmentURL)))
	return "| " + strings.Join(cells, " | ") + " |\n"
}

func (c *ciRun) summaryRow(res *deploy.FleetResult, h *deploy.Result) string {
	cells := []string{orDash(mdCell(h.Target)), "–", "–"}
	commit := h.Commit
	if commit == "" {
		commit = c.commit
	}
	if h.Release > 0 {
		cells[1] = strconv.Itoa(h.Release)
	} else if res.Release > 0 {
		cells[1] = strconv.Itoa(res.Release)
	}
	if commit != "" {
		cells[2] = "`" + mdCell(release.ShortCommit(commit)) + "`"
	}
	for _, name := range deploy.StageNames() {
		cell := "–"
		for _, st := range h.Stages {
			if st.Name == name {
				cell = deploy.FormatDuration(st.Duration)
			}
		}
		if name == h.FailedStage {
			cell = "✗ " + cell
		}
		cells = append(cells, cell)
	}
	cells = append(cells, deploy.FormatDuration(h.Duration))
	switch {
	case h.Outcome == deploy.OutcomeOK:
		cells = append(cells, "✓ live")
	case h.FailedStage != "":
		cells = append(cells, "✗ "+mdCell(h.FailedStage+" failed on "+h.Target+": "+h.Error))
	default:
		cells = append(cells, "✗ "+mdCell(h.Outcome+": "+h.Error))
	}
	cells = append(cells, orDash(mdCell(c.environmentURL)))
	return "| " + strings.Join(cells, " | ") + " |\n"
}

// writeOutputs appends release, sha and url to $GITHUB_OUTPUT.
func (c *ciRun) writeOutputs(res *deploy.FleetResult, err error) error {
	path := c.getenv("GITHUB_OUTPUT")
	if path == "" {
		return nil
	}
	rel, sha := "", c.commit
	if res != nil && err == nil {
		rel = strconv.Itoa(res.Release)
	}
	if res != nil && res.Commit != "" {
		sha = res.Commit
	}
	var b strings.Builder
	for _, o := range [][2]string{{"release", rel}, {"sha", sha}, {"url", c.environmentURL}} {
		if err := writeOutput(&b, o[0], o[1]); err != nil {
			return err
		}
	}
	return appendFile(path, b.String())
}

func appendFile(path, text string) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return err
	}
	if _, err := io.WriteString(f, text); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// writeOutput writes one output in the multi-line form, name<<DELIMITER,
// with a delimiter no value can guess or contain.
func writeOutput(w io.Writer, name, value string) error {
	delim := "ship_output_" + randomToken()
	if strings.Contains(value, delim) {
		return fmt.Errorf("output %s holds its own delimiter", name)
	}
	_, err := fmt.Fprintf(w, "%s<<%s\n%s\n%s\n", name, delim, value, delim)
	return err
}

// fence prints lines that are not ours with workflow commands stopped: the
// runner ignores every command until it sees the random token again.
func fence(w io.Writer, lines []string) {
	if len(lines) == 0 {
		return
	}
	token := randomToken()
	var b strings.Builder
	fmt.Fprintf(&b, "::stop-commands::%s\n", token)
	for _, l := range lines {
		b.WriteString(l)
		b.WriteByte('\n')
	}
	fmt.Fprintf(&b, "::%s::\n", token)
	io.WriteString(w, b.String())
}

// guardLine prints one line of ship's own text that may carry foreign text,
// fenced when the runner would read a command in it.
func guardLine(w io.Writer, line string) {
	if looksLikeCommand(line) {
		fence(w, []string{line})
		return
	}
	fmt.Fprintln(w, line)
}

// looksLikeCommand reports whether the runner could read a workflow command
// in s. The runner splits lines at \r as well as \n.
func looksLikeCommand(s string) bool {
	for _, part := range strings.FieldsFunc(s, func(r rune) bool { return r == '\n' || r == '\r' }) {
		if strings.HasPrefix(strings.TrimLeftFunc(part, unicode.IsSpace), "::") || strings.Contains(part, "##[") {
			return true
		}
	}
	return false
}

// commandGuard is a writer that passes text through a line at a time and
// fences the lines that look like workflow commands.
type commandGuard struct {
	mu  sync.Mutex
	w   io.Writer
	buf []byte
}

func (g *commandGuard) Write(p []byte) (int, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.buf = append(g.buf, p...)
	for {
		i := strings.IndexByte(string(g.buf), '\n')
		if i < 0 {
			return len(p), nil
		}
		guardLine(g.w, string(g.buf[:i]))
		g.buf = g.buf[i+1:]
	}
}

// Flush prints a last line without a newline.
func (g *commandGuard) Flush() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if len(g.buf) > 0 {
		guardLine(g.w, string(g.buf))
		g.buf = nil
	}
}

// maskSecrets asks the runner to hide each secret in the log from now on;
// a multi-line secret (a private key) is masked line by line, as the log
// shows it.
func maskSecrets(w io.Writer, secrets []string) {
	seen := map[string]bool{}
	mask := func(v string) {
		if !seen[v] {
			seen[v] = true
			fmt.Fprintf(w, "::add-mask::%s\n", escapeData(v))
		}
	}
	for _, s := range secrets {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		if !strings.ContainsAny(s, "\r\n") {
			mask(s)
			continue
		}
		for _, line := range strings.FieldsFunc(s, func(r rune) bool { return r == '\n' || r == '\r' }) {
			line = strings.TrimSpace(line)
			if len(line) < minKeyLineMask || strings.HasPrefix(line, "-----") { // the PEM armor is no secret
				continue
			}
			mask(line)
		}
	}
}

// escapeData escapes a workflow command's message as the runner unescapes it.
func escapeData(s string) string {
	return strings.NewReplacer("%", "%25", "\r", "%0D", "\n", "%0A").Replace(s)
}

// escapeProperty escapes a workflow command's property value (title=…).
func escapeProperty(s string) string {
	return strings.NewReplacer("%", "%25", "\r", "%0D", "\n", "%0A", ":", "%3A", ",", "%2C").Replace(s)
}

// mdCell makes s safe in one cell of a Markdown table.
func mdCell(s string) string {
	return strings.NewReplacer("|", `\|`, "\r", " ", "\n", " ", "<", "&lt;", ">", "&gt;", "`", "'").Replace(s)
}

func orDash(s string) string {
	if s == "" {
		return "–"
	}
	return s
}

func joinUnique(results []*deploy.Result, field func(*deploy.Result) string) string {
	var out []string
	seen := map[string]bool{}
	for _, r := range results {
		if v := field(r); v != "" && !seen[v] {
			seen[v] = true
			out = append(out, v)
		}
	}
	return strings.Join(out, " ")
}

func randomToken() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
