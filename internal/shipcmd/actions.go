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
	"time"
	"unicode"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/shipdeploy/ship/internal/deploy"
	"github.com/shipdeploy/ship/internal/github"
	"github.com/shipdeploy/ship/internal/release"
)

const (
	flagEnvironment    = "environment"
	flagEnvironmentURL = "environment-url"
	flagGitHubToken    = "github-token"
)

// secretEnv are the variables whose values are masked in the Actions log
// before ship prints anything.
var secretEnv = []string{"SHIP_SSH_KEY", "SHIP_SSH_PASSPHRASE", "GIT_SSH_KEY", "WEBHOOK_SECRET", "GITHUB_TOKEN"}

// minKeyLineMask: lines of a multi-line secret (a PEM key) shorter than this
// are not masked: a key's last line can be a few characters that also occur
// everywhere in a log, and masking them would garble it while hiding nothing
// that matters.
const minKeyLineMask = 4

var allStages = []string{
	deploy.StageLock, deploy.StageSource, deploy.StageShared, deploy.StageInstall,
	deploy.StageBuild, deploy.StageSwitch, deploy.StageReload, deploy.StagePrune,
}

// addGitHubFlags adds deploy's flags for GitHub Deployments.
func addGitHubFlags(fl *pflag.FlagSet) {
	fl.String(flagEnvironment, "", "GitHub environment the deployment is recorded in (default production; needs a token)")
	fl.String(flagEnvironmentURL, "", "URL of the deployed app: the deployment's environment_url and the Actions output url")
	fl.String(flagGitHubToken, "", "token for GitHub Deployments (deployments: write); none: nothing is recorded [GITHUB_TOKEN]")
}

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
	rows           []*targetRow
}

// targetRow is one host's line of the job summary.
type targetRow struct {
	host    string
	commit  string
	stages  []deploy.StageResult
	failed  string // the stage that failed
	release int
	res     *deploy.Result
	err     error
}

// startCI masks the secrets (inside Actions) and returns the hooks for this
// deploy and the stream to print progress to: inside Actions, a guard that
// fences foreign lines.
func (a *app) startCI(cmd *cobra.Command, progress io.Writer) (*ciRun, io.Writer) {
	c := &ciRun{actions: a.getenv("GITHUB_ACTIONS") == "true", getenv: a.getenv, out: progress, stderr: a.stderr}
	fl := cmd.Flags()
	c.environment, _ = fl.GetString(flagEnvironment)
	c.environmentURL, _ = fl.GetString(flagEnvironmentURL)
	token, _ := fl.GetString(flagGitHubToken)
	if token == "" {
		token = a.getenv("GITHUB_TOKEN")
	}
	c.gh = github.FromEnv(a.getenv)
	c.gh.Token = token
	if !c.actions {
		return c, progress
	}
	secrets := []string{token}
	for _, name := range secretEnv {
		secrets = append(secrets, a.getenv(name))
	}
	maskSecrets(progress, secrets)
	c.guard = &commandGuard{w: progress}
	return c, c.guard
}

// reporter starts the GitHub deployment (once, at the first target) and
// returns the Actions reporter, or nil outside Actions (the text reporter).
func (c *ciRun) reporter(ctx context.Context, opts deploy.Options) deploy.Reporter {
	if c.commit == "" {
		c.commit = c.deployedRef(opts)
	}
	c.startDeployment(ctx)
	if !c.actions {
		return nil
	}
	return &actionsReporter{w: c.out, ci: c, root: opts.Root, commit: opts.Commit}
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
	cfg.Description = "ship is deploying " + shortSHA(c.commit)
	d, err := github.Start(ctx, cfg)
	c.deployment = d // may be set with an error: it is closed at the end
	if err != nil {
		c.warn(err.Error())
	}
}

// finish runs after every target, whether the deploy worked or not: the
// deployment's last status, and inside Actions the error annotation, the
// job summary and the step's outputs. Nothing here changes the exit code.
func (c *ciRun) finish(ctx context.Context, results []*deploy.Result, err error) {
	if c.guard != nil {
		c.guard.Flush()
	}
	ctx = context.WithoutCancel(ctx) // report a cancelled deploy too
	if c.deployment != nil {
		if ferr := c.deployment.Finish(ctx, err == nil, c.describe(results, err)); ferr != nil {
			c.warn(ferr.Error())
		}
	}
	if !c.actions {
		return
	}
	if err != nil {
		c.markFailure(err)
		title, msg := errorAnnotation(err)
		fmt.Fprintf(c.out, "::error title=%s::%s\n", escapeProperty(title), escapeData(msg))
	}
	if werr := c.writeSummary(err); werr != nil {
		c.warn("write the job summary: " + werr.Error())
	}
	if werr := c.writeOutputs(results); werr != nil {
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
func (c *ciRun) describe(results []*deploy.Result, err error) string {
	if err != nil {
		var se *deploy.StepError
		if errors.As(err, &se) {
			return fmt.Sprintf("failed at %s on %s", se.Step, se.Target)
		}
		return "failed: " + err.Error()
	}
	var hosts []string
	for _, r := range results {
		hosts = append(hosts, r.Target)
	}
	rel := "release " + joinUnique(results, func(r *deploy.Result) string { return strconv.Itoa(r.Release) })
	return fmt.Sprintf("%s (%s) on %s", rel, shortSHA(c.resultCommit(results)), strings.Join(hosts, ", "))
}

// markFailure puts err on the row of the host that failed, or on a row of its
// own when no host was reached (a connection or settings error).
func (c *ciRun) markFailure(err error) {
	var se *deploy.StepError
	errors.As(err, &se)
	for i := len(c.rows) - 1; i >= 0; i-- {
		if row := c.rows[i]; row.res == nil {
			row.err = err
			if se != nil && row.release == 0 {
				row.release = se.Release
			}
			return
		}
	}
	c.rows = append(c.rows, &targetRow{err: err})
}

func errorAnnotation(err error) (title, msg string) {
	msg = err.Error()
	var se *deploy.StepError
	if !errors.As(err, &se) {
		return "ship deploy failed", msg
	}
	title = fmt.Sprintf("ship deploy failed at %s on %s", se.Step, se.Target)
	var locked *release.LockedError
	switch {
	case errors.As(err, &locked):
		msg += ". Nothing was changed; wait for the other deploy, or run ship unlock if it is dead"
	case se.Current > 0:
		msg += fmt.Sprintf(". current is release %d, which keeps serving", se.Current)
	}
	return title, msg
}

// writeSummary appends a Markdown table to $GITHUB_STEP_SUMMARY.
func (c *ciRun) writeSummary(err error) error {
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
	b.WriteString("| target | release | commit |")
	for _, s := range allStages {
		b.WriteString(" " + s + " |")
	}
	b.WriteString(" total | result | URL |\n|---|---:|---|")
	b.WriteString(strings.Repeat("---:|", len(allStages)+1))
	b.WriteString("---|---|\n")
	for _, row := range c.rows {
		b.WriteString(c.summaryRow(row))
	}
	b.WriteString("\n")
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return err
	}
	if _, err := io.WriteString(f, b.String()); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func (c *ciRun) summaryRow(row *targetRow) string {
	cells := []string{orDash(mdCell(row.host)), "–", "–"}
	rel, commit := row.release, row.commit
	if row.res != nil {
		rel, commit = row.res.Release, row.res.Commit
	}
	if rel > 0 {
		cells[1] = strconv.Itoa(rel)
	}
	if commit != "" {
		cells[2] = "`" + mdCell(shortSHA(commit)) + "`"
	}
	var total time.Duration
	for _, name := range allStages {
		cell := "–"
		for _, st := range row.stages {
			if st.Name == name {
				cell = fmt.Sprintf("%.1fs", st.Duration.Seconds())
				total += st.Duration
			}
		}
		if name == row.failed {
			cell = "✗ " + cell
		}
		cells = append(cells, cell)
	}
	if row.res != nil {
		total = row.res.Duration
	}
	cells = append(cells, fmt.Sprintf("%.1fs", total.Seconds()))
	switch {
	case row.res != nil:
		cells = append(cells, "✓ live")
	case row.err != nil:
		cells = append(cells, "✗ "+mdCell(row.err.Error()))
	default:
		cells = append(cells, "✗ not finished")
	}
	cells = append(cells, orDash(mdCell(c.environmentURL)))
	return "| " + strings.Join(cells, " | ") + " |\n"
}

// writeOutputs appends release, sha and url to $GITHUB_OUTPUT.
func (c *ciRun) writeOutputs(results []*deploy.Result) error {
	path := c.getenv("GITHUB_OUTPUT")
	if path == "" {
		return nil
	}
	sha := c.resultCommit(results)
	if sha == "" {
		sha = c.commit
	}
	var b strings.Builder
	for _, o := range [][2]string{
		{"release", joinUnique(results, func(r *deploy.Result) string { return strconv.Itoa(r.Release) })},
		{"sha", sha},
		{"url", c.environmentURL},
	} {
		if err := writeOutput(&b, o[0], o[1]); err != nil {
			return err
		}
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return err
	}
	if _, err := io.WriteString(f, b.String()); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func (c *ciRun) resultCommit(results []*deploy.Result) string {
	return joinUnique(results, func(r *deploy.Result) string { return r.Commit })
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

// actionsReporter is deploy.Reporter as the Actions log shows it: a group
// per stage and host holding that stage's output. A stage the host runs
// opens its group when it starts and streams its output live (a long build
// shows as it goes), fenced with stop-commands; its time and note close it.
type actionsReporter struct {
	w      io.Writer
	ci     *ciRun
	root   string
	commit string
	row    *targetRow
	open   string // the stop-commands token of the open group; "" when none
}

func (r *actionsReporter) StageStart(stage string) {
	r.closeOpen("")
	r.open = randomToken()
	fmt.Fprintf(r.w, "::group::%s\n", escapeData(fmt.Sprintf("%s %s (%s)", deploy.StageLabel(stage), stage, r.row.host)))
	fmt.Fprintf(r.w, "::stop-commands::%s\n", r.open)
}

// closeOpen ends the open group, with last as its final (fenced) line.
// It reports whether a group was open.
func (r *actionsReporter) closeOpen(last string) bool {
	if r.open == "" {
		return false
	}
	if last != "" {
		fmt.Fprintln(r.w, last)
	}
	fmt.Fprintf(r.w, "::%s::\n::endgroup::\n", r.open)
	r.open = ""
	return true
}

func (r *actionsReporter) Begin(target, source string) {
	r.row = &targetRow{host: strings.TrimSuffix(target, ":"+r.root), commit: r.commit}
	r.ci.rows = append(r.ci.rows, r.row)
	guardLine(r.w, fmt.Sprintf("ship → %s   %s", target, source))
}

// Output goes into the open group as it comes.
func (r *actionsReporter) Output(line string) {
	if r.open != "" {
		fmt.Fprintln(r.w, line)
	}
}

func (r *actionsReporter) StageDone(st deploy.StageResult, output []string) {
	r.row.stages = append(r.row.stages, st)
	if st.Name == deploy.StageSource {
		// "release 42 ← 3f9c2ab": known from here on, for a later failure.
		var n int
		var commit string
		if _, err := fmt.Sscanf(st.Note, "release %d ← %s", &n, &commit); err == nil {
			r.row.release = n
			if r.row.commit == "" {
				r.row.commit = commit
			}
		}
	}
	title := fmt.Sprintf("%s %s %.1fs", deploy.StageLabel(st.Name), st.Name, st.Duration.Seconds())
	if st.Note != "" {
		title += "  " + st.Note
	}
	// The closing line leaves out the install and build notes: they quote
	// the configured command, which the group's output already follows.
	last := title
	if st.Name == deploy.StageInstall || st.Name == deploy.StageBuild {
		last = fmt.Sprintf("%s %s %.1fs", deploy.StageLabel(st.Name), st.Name, st.Duration.Seconds())
	}
	if r.closeOpen(last) {
		return
	}
	r.group(title+" ("+r.row.host+")", output)
}

func (r *actionsReporter) StageFailed(stage string, d time.Duration, reason string, output []string) {
	r.row.stages = append(r.row.stages, deploy.StageResult{Name: stage, Duration: d})
	r.row.failed = stage
	what := fmt.Sprintf("failed after %.1fs", d.Seconds())
	if reason != "" {
		what = "failed: " + reason
	}
	title := fmt.Sprintf("%s %s %s", deploy.StageLabel(stage), stage, what)
	if r.closeOpen(title) {
		return
	}
	r.group(title+" ("+r.row.host+")", output)
}

func (r *actionsReporter) Note(msg string) {
	r.closeOpen("")
	guardLine(r.w, "  "+msg)
}

func (r *actionsReporter) Done(res *deploy.Result) {
	r.closeOpen("")
	r.row.res = res
	guardLine(r.w, fmt.Sprintf("✓ %s is on release %d (%s) · %.1fs", res.Target, res.Release, shortSHA(res.Commit), res.Duration.Seconds()))
}

func (r *actionsReporter) group(title string, lines []string) {
	fmt.Fprintf(r.w, "::group::%s\n", escapeData(title))
	fence(r.w, lines)
	fmt.Fprintf(r.w, "::endgroup::\n")
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

func shortSHA(commit string) string {
	if len(commit) > 7 && looksHex(commit) {
		return commit[:7]
	}
	return commit
}

func looksHex(s string) bool {
	for _, r := range s {
		if !(r >= '0' && r <= '9' || r >= 'a' && r <= 'f') {
			return false
		}
	}
	return true
}

func randomToken() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
