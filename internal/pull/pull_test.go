package pull

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/shipdeploy/ship/internal/deploy"
	"github.com/shipdeploy/ship/internal/dotenv"
	"github.com/shipdeploy/ship/internal/release"
	"github.com/shipdeploy/ship/internal/testenv"
)

// The embedded host keys are the ones GitHub publishes: their fingerprints
// are compared with the published list, each type once.
func TestGitHubKnownHosts(t *testing.T) {
	published := map[string]string{
		"ssh-ed25519":         "SHA256:+DiY3wvvV6TuJJhbpZisF/zLDA0zPMSvHdkr4UvCOqU",
		"ecdsa-sha2-nistp256": "SHA256:p2QAMXNIC1TJYWeIOttrVc98/R1BUFWu3/LiyKgUfQM",
		"ssh-rsa":             "SHA256:uNiVztksCsDhcc0u9e8BujQXVUpKZIDTMczCvj3tD2s",
	}
	rest := []byte(GitHubKnownHosts)
	seen := map[string]bool{}
	for len(bytes.TrimSpace(rest)) > 0 {
		_, hosts, key, _, next, err := ssh.ParseKnownHosts(rest)
		if err != nil {
			t.Fatalf("GitHubKnownHosts does not parse: %v", err)
		}
		rest = next
		want, ok := published[key.Type()]
		if !ok {
			t.Errorf("unexpected key type %s", key.Type())
			continue
		}
		if got := ssh.FingerprintSHA256(key); got != want {
			t.Errorf("%s fingerprint %s, GitHub publishes %s", key.Type(), got, want)
		}
		if strings.Join(hosts, ",") != "github.com,[ssh.github.com]:443" {
			t.Errorf("%s is for %v", key.Type(), hosts)
		}
		seen[key.Type()] = true
	}
	if len(seen) != len(published) {
		t.Errorf("key types %v, want %d", seen, len(published))
	}
}

func TestNormalizeKey(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"", ""},
		{"  \n", ""},
		{`-----BEGIN X-----\nAAAA\n-----END X-----`, "-----BEGIN X-----\nAAAA\n-----END X-----\n"},
		{`"-----BEGIN X-----\nAAAA\n-----END X-----\n"`, "-----BEGIN X-----\nAAAA\n-----END X-----\n"},
		{"-----BEGIN X-----\r\nAAAA\r\n-----END X-----\r\n", "-----BEGIN X-----\nAAAA\n-----END X-----\n"},
	} {
		if got := NormalizeKey(tc.in); got != tc.want {
			t.Errorf("NormalizeKey(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// The key lives in a 0700 folder, mode 0600, for the deploy only; the
// command quotes its paths for git's shell.
func TestSSHFiles(t *testing.T) {
	t.Setenv("TMPDIR", t.TempDir())
	key := newKey(t, "")
	s, err := newSSHFiles(key, "example.com ssh-ed25519 AAAA")
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]os.FileMode{s.dir: 0o700 | os.ModeDir, s.key: 0o600, s.knownHosts: 0o600} {
		st, err := os.Stat(name)
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode() != want {
			t.Errorf("%s: mode %v, want %v", name, st.Mode(), want)
		}
	}
	if b, _ := os.ReadFile(s.key); string(b) != key {
		t.Error("the key file does not hold the key")
	}
	if b, _ := os.ReadFile(s.knownHosts); string(b) != "example.com ssh-ed25519 AAAA\n" {
		t.Errorf("known_hosts: %q", b)
	}
	want := "ssh -i " + s.key + " -o IdentitiesOnly=yes -o StrictHostKeyChecking=yes -o UserKnownHostsFile=" + s.knownHosts + " -o BatchMode=yes"
	if got := s.command(); got != want {
		t.Errorf("command:\n%s\nwant\n%s", got, want)
	}
	s.remove()
	if _, err := os.Stat(s.dir); !os.IsNotExist(err) {
		t.Errorf("the key folder is still there: %v", err)
	}
}

func TestBadKeys(t *testing.T) {
	for _, tc := range []struct {
		name, key, want string
	}{
		{"garbage", "not a key at all, but a secret-ish text 12345", "not a private key"},
		{"passphrase", newKey(t, "hunter2"), "passphrase"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := &Deployer{Root: t.TempDir(), Repo: "git@github.com:acme/shop.git", KeyText: tc.key}
			_, err := d.Deploy(context.Background(), strings.Repeat("a", 40), "refs/heads/main", "test")
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want it to mention %q", err, tc.want)
			}
			if strings.Contains(err.Error(), strings.TrimSpace(tc.key)[:20]) {
				t.Errorf("the error quotes the key: %v", err)
			}
		})
	}
}

func TestDeployRefusesWhatIsNotACommit(t *testing.T) {
	d := &Deployer{Root: t.TempDir(), Repo: "/nonexistent"}
	for _, c := range []string{"main", "f00dbabe", strings.Repeat("A", 40), "--upload-pack=touch x", strings.Repeat("a", 39) + ";"} {
		if _, err := d.Deploy(context.Background(), c, "refs/heads/main", "test"); !errors.Is(err, deploy.ErrBadInput) {
			t.Errorf("Deploy(%q): %v, want ErrBadInput", c, err)
		}
	}
	if _, err := (&Deployer{Root: t.TempDir()}).Deploy(context.Background(), strings.Repeat("a", 40), "", ""); !errors.Is(err, ErrNoRepo) {
		t.Errorf("without a repository: %v, want ErrNoRepo", err)
	}
}

func TestRedactURL(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"https://x-access-token:ghp_abc@github.com/acme/shop.git", "https://x-access-token:xxxxx@github.com/acme/shop.git"},
		{"https://github.com/acme/shop.git", "https://github.com/acme/shop.git"},
		{"git@github.com:acme/shop.git", "git@github.com:acme/shop.git"},
		{"/srv/git/shop", "/srv/git/shop"},
	} {
		if got := deploy.RedactURL(tc.in); got != tc.want {
			t.Errorf("deploy.RedactURL(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
	err := redacted(errors.New("fetch from https://u:tok@example.com/r.git failed"), "https://u:tok@example.com/r.git")
	if strings.Contains(err.Error(), "tok") {
		t.Errorf("redacted: %v", err)
	}
}

// A webhook deploy builds exactly the pushed commit, even after the branch
// moved on.
func TestDeployExactCommit(t *testing.T) {
	testenv.Bun(t)
	repo := testenv.AppRepo(t)
	pushed := testenv.CommitVersion(t, repo, "pushed")
	later := testenv.CommitVersion(t, repo, "later") // main moved on after the push
	root := filepath.Join(t.TempDir(), "app")
	var out bytes.Buffer
	d := &Deployer{Root: root, Repo: repo, Out: &out}
	res, err := d.Deploy(context.Background(), pushed, "refs/heads/main", "webhook (alice, delivery 72d3162e)")
	if err != nil {
		t.Fatalf("deploy: %v\n%s", err, out.String())
	}
	info := readInfo(t, root, res.Release)
	if info.Commit != pushed || res.Commit != pushed {
		t.Errorf("release.json commit %s (result %s), want the pushed %s, not the branch's %s", info.Commit, res.Commit, pushed, later)
	}
	if info.By != "webhook (alice, delivery 72d3162e)" {
		t.Errorf("release.json by %q", info.By)
	}
	if v := readFile(t, filepath.Join(root, "current", "src", "version.ts")); !strings.Contains(v, `"pushed"`) {
		t.Errorf("current has version %q", v)
	}
	if _, err := os.Stat(filepath.Join(root, "current", "dist", "index.js")); err != nil {
		t.Errorf("the release was not built: %v", err)
	}

	// The next push deploys the later commit as release 2.
	res2, err := d.Deploy(context.Background(), later, "refs/heads/main", "webhook")
	if err != nil {
		t.Fatalf("second deploy: %v\n%s", err, out.String())
	}
	if res2.Release != res.Release+1 || readInfo(t, root, res2.Release).Commit != later {
		t.Errorf("second deploy: release %d commit %s", res2.Release, res2.Commit)
	}
	// A commit that is not in the repository fails and leaves current alone.
	if _, err := d.Deploy(context.Background(), strings.Repeat("e", 40), "refs/heads/main", "webhook"); err == nil {
		t.Error("a commit that does not exist deployed")
	}
	if link, _ := os.Readlink(filepath.Join(root, "current")); link != release.CurrentTarget(res2.Release) {
		t.Errorf("current -> %s after a failed deploy", link)
	}
}

// Behind tells a late push (an ancestor of what is live) from a newer one.
func TestBehind(t *testing.T) {
	testenv.Bun(t)
	repo := testenv.AppRepo(t)
	older := testenv.CommitVersion(t, repo, "older")
	live := testenv.CommitVersion(t, repo, "live")
	root := filepath.Join(t.TempDir(), "app")
	d := &Deployer{Root: root, Repo: repo}
	ctx := context.Background()
	if _, behind := d.Behind(ctx, older); behind {
		t.Error("behind before anything was deployed")
	}
	if _, err := d.Deploy(ctx, live, "refs/heads/main", "test"); err != nil {
		t.Fatal(err)
	}
	newer := testenv.CommitVersion(t, repo, "newer") // not fetched yet
	for _, tc := range []struct {
		name   string
		commit string
		want   bool
	}{
		{"ancestor of the live commit", older, true},
		{"the live commit itself", live, false},
		{"a newer commit the mirror has not seen", newer, false},
		{"a commit that does not exist", strings.Repeat("e", 40), false},
	} {
		if cur, got := d.Behind(ctx, tc.commit); got != tc.want || (got && cur != live) {
			t.Errorf("%s: Behind = %s, %v; want %v", tc.name, cur, got, tc.want)
		}
	}
}

// First start deploys the branch once; later starts do nothing.
func TestFirstStart(t *testing.T) {
	testenv.Bun(t)
	repo := testenv.AppRepo(t)
	head := testenv.CommitVersion(t, repo, "first")
	root := filepath.Join(t.TempDir(), "app")
	if res, err := (&Deployer{Root: root}).FirstStart(context.Background()); res != nil || err != nil {
		t.Fatalf("without GIT_REPO: %v, %v; want nothing", res, err)
	}
	var out bytes.Buffer
	d := &Deployer{Root: root, Repo: repo, Branch: "main", Out: &out, Wait: time.Minute}
	res, err := d.FirstStart(context.Background())
	if err != nil || res == nil {
		t.Fatalf("first start: %v, %v\n%s", res, err, out.String())
	}
	if info := readInfo(t, root, res.Release); info.Commit != head || info.Ref != "main" {
		t.Errorf("release.json: commit %s ref %s, want %s main", info.Commit, info.Ref, head)
	}
	if res, err := d.FirstStart(context.Background()); res != nil || err != nil {
		t.Errorf("second start: %v, %v; want nothing", res, err)
	}
}

// A webhook deploy waits for a push deploy's lock instead of failing.
func TestDeployWaitsForTheLock(t *testing.T) {
	testenv.Bun(t)
	repo := testenv.AppRepo(t)
	commit := strings.TrimSpace(testenv.GitRun(t, repo, "rev-parse", "HEAD"))
	root := filepath.Join(t.TempDir(), "app")
	l := release.Layout{Root: root}
	if err := os.MkdirAll(l.ShipDir(), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := release.Lock(release.LocalFS{}, l, release.LockInfo{ID: "push-deploy", Who: "alice", Since: time.Now()}); err != nil {
		t.Fatal(err)
	}
	released := make(chan time.Time, 1)
	go func() {
		time.Sleep(2 * time.Second)
		_ = release.Unlock(release.LocalFS{}, l, "push-deploy")
		released <- time.Now()
	}()
	var out bytes.Buffer
	d := &Deployer{Root: root, Repo: repo, Out: &out, LockWait: 30 * time.Second}
	res, err := d.Deploy(context.Background(), commit, "refs/heads/main", "webhook")
	if err != nil {
		t.Fatalf("deploy: %v\n%s", err, out.String())
	}
	at := <-released
	if info := readInfo(t, root, res.Release); info.BuiltAt.Before(at.Add(-time.Second)) {
		t.Errorf("built at %v, before the lock was released at %v", info.BuiltAt, at)
	}
	if !strings.Contains(out.String(), "waiting for the lock") {
		t.Errorf("the output does not say it waited:\n%s", out.String())
	}
}

// Over SSH with the deploy key from GIT_SSH_KEY (newlines written as \n)
// and a strict known_hosts: the right host key deploys, a wrong one does not.
func TestDeployOverSSH(t *testing.T) {
	testenv.Bun(t)
	sshd := testenv.StartSSHD(t)
	repo := testenv.AppRepo(t)
	commit := testenv.CommitVersion(t, repo, "over-ssh")
	kh := readFile(t, sshd.KnownHostsFile)
	url := "ssh://" + sshd.User + "@" + sshd.Addr + repo
	keyEnv := strings.ReplaceAll(sshd.KeyText, "\n", `\n`)
	if strings.Contains(keyEnv, "\n") {
		t.Fatal("the key still has newlines")
	}
	// HOME without ssh settings: only the deploy key and known_hosts count.
	t.Setenv("HOME", t.TempDir())
	t.Setenv("SSH_AUTH_SOCK", "")
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)

	root := filepath.Join(t.TempDir(), "app")
	var out bytes.Buffer
	d := &Deployer{Root: root, Repo: url, KeyText: keyEnv, KnownHosts: kh, Out: &out}
	res, err := d.Deploy(context.Background(), commit, "refs/heads/main", "webhook")
	if err != nil {
		t.Fatalf("deploy over ssh: %v\n%s", err, out.String())
	}
	if info := readInfo(t, root, res.Release); info.Commit != commit {
		t.Errorf("release.json commit %s, want %s", info.Commit, commit)
	}
	if left, _ := os.ReadDir(tmp); len(left) != 0 {
		t.Errorf("the key folder was left behind: %v", left)
	}

	// GitHub's keys are not this server's: strict checking refuses it.
	out.Reset()
	d2 := &Deployer{Root: filepath.Join(t.TempDir(), "app2"), Repo: url, KeyText: keyEnv, Out: &out}
	_, err = d2.Deploy(context.Background(), commit, "refs/heads/main", "webhook")
	if err == nil {
		t.Fatal("deployed from a server whose host key is not in known_hosts")
	}
	keyBody := strings.Split(strings.TrimSpace(sshd.KeyText), "\n")[1]
	if strings.Contains(err.Error(), keyBody) || strings.Contains(out.String(), keyBody) {
		t.Error("the key's text is in the error or the output")
	}
	if !strings.Contains(out.String()+err.Error(), "ost key verification failed") {
		t.Errorf("the failure is not the host key check: %v\n%s", err, out.String())
	}
	if left, _ := os.ReadDir(tmp); len(left) != 0 {
		t.Errorf("the key folder was left behind after a failure: %v", left)
	}
}

func readInfo(t *testing.T, root string, n int) release.Info {
	t.Helper()
	var info release.Info
	if err := json.Unmarshal([]byte(readFile(t, release.Layout{Root: root}.InfoFile(n))), &info); err != nil {
		t.Fatal(err)
	}
	return info
}

func readFile(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// newKey makes an ed25519 key with ssh-keygen and returns its text.
func newKey(t *testing.T, passphrase string) string {
	t.Helper()
	if _, err := exec.LookPath("ssh-keygen"); err != nil {
		testenv.SkipOrFail(t, "ssh-keygen is not installed: run scripts/setup")
	}
	file := filepath.Join(t.TempDir(), "key")
	if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", passphrase, "-f", file).CombinedOutput(); err != nil {
		t.Fatalf("ssh-keygen: %v\n%s", err, out)
	}
	return readFile(t, file)
}

// The build runs at a lower CPU priority than the receiver.
func TestDeployIsNiced(t *testing.T) {
	if out, err := exec.Command("nice").Output(); err != nil || strings.TrimSpace(string(out)) != "0" {
		t.Skipf("the tests run at niceness %q (%v): the expected values assume 0", out, err)
	}
	repo := testenv.AppRepo(t)
	commit := strings.TrimSpace(testenv.GitRun(t, repo, "rev-parse", "HEAD"))
	for _, tc := range []struct {
		nice int
		want string
	}{{0, "10"}, {15, "15"}, {-1, "0"}} {
		root := filepath.Join(t.TempDir(), "app")
		var out bytes.Buffer
		d := &Deployer{Root: root, Repo: repo, Nice: tc.nice, Out: &out,
			Base: deploy.Options{Install: "-", Build: "nice > niceness"}}
		res, err := d.Deploy(context.Background(), commit, "refs/heads/main", "test")
		if err != nil {
			t.Fatalf("deploy: %v\n%s", err, out.String())
		}
		if got := strings.TrimSpace(readFile(t, filepath.Join(release.Layout{Root: root}.Dir(res.Release), "niceness"))); got != tc.want {
			t.Errorf("Nice %d: the build ran at niceness %s, want %s", tc.nice, got, tc.want)
		}
	}
}

// A pull deploy carries ship.yml env:'s lines of the live release (its
// secrets came from ship's environment, not here) over today's
// shared/.env, and the next one carries them again, unchanged.
func TestPullDeployCarriesShipEnv(t *testing.T) {
	testenv.Bun(t)
	repo := testenv.AppRepo(t)
	first := testenv.CommitVersion(t, repo, "first")
	root := filepath.Join(t.TempDir(), "app")
	l := release.Layout{Root: root}
	os.MkdirAll(l.Shared(), 0o755)
	os.WriteFile(filepath.Join(l.Shared(), ".env"), []byte("ONLY_SHARED=yes\n"), 0o600)
	var out bytes.Buffer
	vars := []dotenv.Var{{Name: "GREETING", Value: "hi"}, {Name: "TOKEN", Value: `p@ss$word 'x'`, Secret: true}}
	pushed := &Deployer{Root: root, Repo: repo, Out: &out, Base: deploy.Options{AppEnv: vars}}
	if _, err := pushed.Deploy(context.Background(), first, "refs/heads/main", "ship"); err != nil {
		t.Fatalf("deploy with env: %v\n%s", err, out.String())
	}
	shipLines, _ := dotenv.Render(vars)

	os.WriteFile(filepath.Join(l.Shared(), ".env"), []byte("ONLY_SHARED=changed\n"), 0o600)
	pulled := &Deployer{Root: root, Repo: repo, Out: &out}
	for n, version := range []string{"second", "third"} {
		res, err := pulled.Deploy(context.Background(), testenv.CommitVersion(t, repo, version), "refs/heads/main", "webhook")
		if err != nil {
			t.Fatalf("pull deploy %s: %v\n%s", version, err, out.String())
		}
		want := "ONLY_SHARED=changed\n\n" + release.EnvMarker + "\n" + string(shipLines)
		if got := readFile(t, filepath.Join(l.Dir(res.Release), ".env")); got != want {
			t.Errorf("release %d's .env:\n%s\nwant\n%s", res.Release, got, want)
		}
		if readInfo(t, root, res.Release).EnvDigest == "" {
			t.Errorf("release %d's release.json does not say it has its own .env", res.Release)
		}
		if note := fmt.Sprintf(".env (ship.yml env: as release %d had it over the lines it had)", n+1); !strings.Contains(out.String(), note) {
			t.Errorf("the output does not say %q:\n%s", note, out.String())
		}
	}
	if strings.Contains(out.String(), "p@ss") {
		t.Errorf("the output shows the secret:\n%s", out.String())
	}
}
