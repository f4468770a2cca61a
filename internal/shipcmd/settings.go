package shipcmd

import (
	"time"

	"github.com/shipdeploy/ship/internal/deploy"
	"github.com/shipdeploy/ship/internal/host"
	"github.com/shipdeploy/ship/internal/settings"
)

// table is ship's settings: every flag, SHIP_* variable and ship.yml key
// that says how to deploy and how to connect, in one place. A value comes
// from the flag, else the variable, else the target's section of ship.yml,
// else ship.yml's top level, else the default (internal/settings). `ship
// config` takes every flag of the table; README's Settings table is made
// from it (TestReadmeSettings).
//
// To add a setting: add a row here and read it with opt….From(s) where it
// is used. Nothing else names it.
var table settings.Table

// Which commands take which flags.
var (
	targetCommands = []string{"deploy", "rollback", "releases", "status", "unlock", "logs", "exec", "env", "maintenance"}
	changeCommands = []string{"deploy", "rollback"}
	deployCommand  = []string{"deploy"}
)

// defaultTimeout bounds connecting and the SSH handshake.
const defaultTimeout = 15 * time.Second

// What to deploy, and where on the host.
var (
	optConfig = settings.Add(&table, settings.Setting{Name: "config", Flag: "config", Env: "SHIP_CONFIG", Kind: settings.File,
		DefaultText: "ship.yml, looked for from here up to the repository root",
		Help:        "settings file (one that is named must exist)", Commands: targetCommands}, "")
	optPath = settings.Add(&table, settings.Setting{Name: "path", Flag: "path", Env: "SHIP_PATH", Key: "path",
		Help: "APP_ROOT on the target", Commands: targetCommands}, deploy.DefaultRoot)
	optRepo = settings.Add(&table, settings.Setting{Name: "repo", Flag: "repo", Env: "SHIP_REPO", Key: "repo",
		DefaultText: "none: give it, or --upload DIR", Help: "repository URL the hosts fetch from", Commands: deployCommand}, "")
	optRef = settings.Add(&table, settings.Setting{Name: "ref", Flag: "ref", Env: "SHIP_REF", Key: "ref",
		DefaultText: deploy.DefaultRef + "; for an upload, its checkout's branch", Help: "branch, tag or commit to deploy", Commands: deployCommand}, "")
	optKeep = settings.Add(&table, settings.Setting{Name: "keep", Flag: "keep", Env: "SHIP_KEEP", Key: "keep",
		Help: "finished releases to keep", Commands: deployCommand}, deploy.DefaultKeep)
	optInstall = settings.Add(&table, settings.Setting{Name: "install", Flag: "install", Env: "SHIP_INSTALL", Key: "install",
		Help: `install command, run in the release ("-" skips)`, Commands: deployCommand}, deploy.DefaultInstall)
	optBuild = settings.Add(&table, settings.Setting{Name: "build", Flag: "build", Env: "SHIP_BUILD", Key: "build",
		Help: `build command, run in the release ("-" skips)`, Commands: deployCommand}, deploy.DefaultBuild)
	optRelease = settings.Add(&table, settings.Setting{Name: "release-command", Flag: "release-command", Env: "SHIP_RELEASE_COMMAND", Key: "release",
		DefaultText: "none", Help: `command run once in the new release before it starts, with its environment: migrations (on a fleet, on the first host; "-" skips)`,
		Commands: deployCommand}, "")
	optEnv = settings.Add(&table, settings.Setting{Name: "env", Key: "env", Kind: settings.AppEnv,
		DefaultText: "none: the release gets shared/.env", Help: "the app's environment, written into each release as .env: clear: NAME: value lines, secret: names whose values come from ship's environment",
		Commands: deployCommand}, []string(nil))
	optShared = settings.Add(&table, settings.Setting{Name: "shared", Flag: "shared", Env: "SHIP_SHARED", Key: "shared",
		DefaultText: "every entry of shared/",
		Help:        "entries of shared/ to link into each release (folders end in /)", Commands: deployCommand}, []string(nil))
	optWait = settings.Add(&table, settings.Setting{Name: "wait", Flag: "wait", Env: "SHIP_WAIT", Key: "wait",
		Help: "how long the new release may take to be staged and healthy; 0 switches without waiting", Commands: changeCommands}, deploy.DefaultWait)
	optLockWait = settings.Add(&table, settings.Setting{Name: "lock-wait", Flag: "lock-wait", Env: "SHIP_LOCK_WAIT", Key: "lock_wait",
		DefaultText: "0: fail at once", Help: "how long to wait for another deploy's lock", Commands: changeCommands}, time.Duration(0))
	optParallel = settings.Add(&table, settings.Setting{Name: "parallel", Flag: "parallel", Env: "SHIP_PARALLEL", Key: "parallel",
		DefaultText: "0: every host at once", Help: "hosts that prepare at once", Commands: deployCommand}, 0)
	optCanary = settings.Add(&table, settings.Setting{Name: "canary", Flag: "canary",
		Help: "take the first host through both phases alone; the others follow if it is healthy", Commands: deployCommand}, false)
)

// Maintenance (maintenance.go).
var (
	optRetryAfter = settings.Add(&table, settings.Setting{Name: "retry-after", Flag: "retry-after",
		Help: "what the Retry-After header of the maintenance page tells visitors", Commands: []string{"maintenance"}}, 5*time.Minute)
	optMaintenanceOff = settings.Add(&table, settings.Setting{Name: "maintenance-off", Flag: "maintenance-off",
		Help: "turn maintenance off once the new release serves on every host (a deploy leaves it on otherwise)", Commands: deployCommand}, false)
)

// How to connect.
var (
	optUser = settings.Add(&table, settings.Setting{Name: "user", Flag: "user", Env: "SHIP_USER", Key: "user",
		DefaultText: "ssh config, then the local user", Help: "SSH user when TARGET names none", Commands: targetCommands}, "")
	optPort = settings.Add(&table, settings.Setting{Name: "port", Flag: "port", Env: "SHIP_PORT", Key: "port",
		DefaultText: "ssh config, then 22", Help: "SSH port when TARGET names none", Commands: targetCommands}, 0)
	optKey = settings.Add(&table, settings.Setting{Name: "key", Flag: "key", Env: "SHIP_SSH_KEY_FILE", Key: "key", Kind: settings.File,
		DefaultText: "ssh-agent, then ~/.ssh/id_ed25519, id_ecdsa, id_rsa", Help: "private key file", Commands: targetCommands}, "")
	optKeyText = settings.Add(&table, settings.Setting{Name: "key-text", Env: "SHIP_SSH_KEY", Secret: true,
		Help: `a private key's text (\n may stand for newlines); wins over key`, Commands: targetCommands}, "")
	optPassphrase = settings.Add(&table, settings.Setting{Name: "passphrase", Env: "SHIP_SSH_PASSPHRASE", Secret: true,
		Help: "the private key's passphrase", Commands: targetCommands}, "")
	optKnownHosts = settings.Add(&table, settings.Setting{Name: "known-hosts", Flag: "known-hosts", Env: "SHIP_KNOWN_HOSTS_FILE", Key: "known_hosts", Kind: settings.File,
		DefaultText: "~/.ssh/known_hosts", Help: "known_hosts file: the host keys to trust", Commands: targetCommands}, "")
	optKnownHostsText = settings.Add(&table, settings.Setting{Name: "known-hosts-text", Env: "SHIP_KNOWN_HOSTS",
		Help: "known_hosts lines to trust (instead of the file)", Commands: targetCommands}, "")
	optInsecure = settings.Add(&table, settings.Setting{Name: "insecure-ignore-host-key", Flag: "insecure-ignore-host-key",
		Help: "do not check the server's host key (warns every time; never in production)", Commands: targetCommands}, false)
	optJump = settings.Add(&table, settings.Setting{Name: "jump", Flag: "jump", Env: "SHIP_JUMP", Key: "jump",
		DefaultText: "ssh config ProxyJump", Help: "bastion host, [user@]host[:port]", Commands: targetCommands}, "")
	optTimeout = settings.Add(&table, settings.Setting{Name: "timeout", Flag: "timeout", Env: "SHIP_TIMEOUT", Key: "timeout",
		Help: "bound for connecting and the SSH handshake", Commands: targetCommands}, defaultTimeout)
	optContainer = settings.Add(&table, settings.Setting{Name: "container", Flag: "container", Env: "SHIP_CONTAINER", Key: "container",
		DefaultText: "none: run on the host itself", Help: "run everything inside this running container on the target (docker/podman exec)", Commands: targetCommands}, "")
	optEngine = settings.Add(&table, settings.Setting{Name: "engine", Flag: "engine", Env: "SHIP_ENGINE", Key: "engine",
		Help: "the container engine on the target: docker or podman", Commands: targetCommands}, host.EngineDocker)
)

// GitHub Deployments (actions.go).
var (
	optEnvironment = settings.Add(&table, settings.Setting{Name: "environment", Flag: "environment",
		DefaultText: "production", Help: "GitHub environment the deployment is recorded in (needs a token)", Commands: deployCommand}, "")
	optEnvironmentURL = settings.Add(&table, settings.Setting{Name: "environment-url", Flag: "environment-url",
		Help: "URL of the deployed app: the deployment's environment_url and the Actions output url", Commands: deployCommand}, "")
	optGitHubToken = settings.Add(&table, settings.Setting{Name: "github-token", Flag: "github-token", Env: "GITHUB_TOKEN", Secret: true,
		DefaultText: "none: nothing is recorded", Help: "token for GitHub Deployments (deployments: write)", Commands: deployCommand}, "")
)

// secretVariables are the secret variables of ship's tables, masked in the
// Actions log.
func secretVariables() []string {
	var names []string
	for _, s := range append(table.Rows(), triggerTable.Rows()...) {
		if s.Secret && s.Env != "" {
			names = append(names, s.Env)
		}
	}
	return names
}
