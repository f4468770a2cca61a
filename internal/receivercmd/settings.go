package receivercmd

import (
	"time"

	"github.com/shipdeploy/ship/internal/settings"
	"github.com/shipdeploy/ship/internal/supervise"
)

// table is the receiver's settings, under the same rules as ship's
// (internal/settings): a flag wins over its variable, which wins over the
// default. The receiver reads no settings file. README's receiver table is
// made from it (TestReadmeReceiverFlags).
var table settings.Table

// Which commands take which flags. --root and --create are taken by every
// command, so that an image whose ENTRYPOINT is ["receiver", "--create"]
// still runs `docker run IMAGE health` and `… version`.
var (
	allCommands = []string{"receiver", "health", "version"}
	mainCommand = []string{"receiver"}
)

var (
	optRoot = settings.Add(&table, settings.Setting{Name: "root", Flag: "root", Env: "APP_ROOT",
		Help: "the app's folder: current, releases/, .ship/; it must exist", Commands: allCommands}, defaultRoot)
	optCreate = settings.Add(&table, settings.Setting{Name: "create", Flag: "create",
		Help: "create the --root folder when it does not exist (the container image does)", Commands: allCommands}, false)
	optListen = settings.Add(&table, settings.Setting{Name: "listen", Flag: "listen", Env: "LISTEN",
		Help: "public address (proxy mode), or the port the app binds (restart mode)", Commands: mainCommand}, defaultListen)
	optStart = settings.Add(&table, settings.Setting{Name: "start", Flag: "start",
		Help: "the command that starts the app, run with sh -c in the release folder", Commands: mainCommand}, supervise.DefaultCommand)
	optHealthPath = settings.Add(&table, settings.Setting{Name: "health-path", Flag: "health-path", DefaultText: "none: a TCP connect is enough",
		Help: "a path that must answer 2xx before the app takes traffic", Commands: mainCommand}, "")
	optMode = settings.Add(&table, settings.Setting{Name: "mode", Flag: "mode",
		Help: "proxy (zero downtime) or restart (stop, then start; the app owns the port)", Commands: mainCommand}, modeProxy)
	optStartTimeout = settings.Add(&table, settings.Setting{Name: "start-timeout", Flag: "start-timeout",
		Help: "how long a new release may take to become healthy", Commands: mainCommand}, defaultStartTimeout)
	optDrainTimeout = settings.Add(&table, settings.Setting{Name: "drain-timeout", Flag: "drain-timeout",
		Help: "how long the old release may take to finish its requests", Commands: mainCommand}, defaultDrainTimeout)
	optStopTimeout = settings.Add(&table, settings.Setting{Name: "stop-timeout", Flag: "stop-timeout",
		Help: "how long after SIGTERM before SIGKILL", Commands: mainCommand}, defaultStopTimeout)
	optStageTimeout = settings.Add(&table, settings.Setting{Name: "stage-timeout", Flag: "stage-timeout",
		Help: "how long a staged release (healthy, out of traffic) waits for ship's commit before it is stopped", Commands: mainCommand}, time.Duration(defaultStageTimeout))
	optLogFormat = settings.Add(&table, settings.Setting{Name: "log-format", Flag: "log-format",
		Help: "text, or json for log shippers", Commands: mainCommand}, "text")
	optWebhookPath = settings.Add(&table, settings.Setting{Name: "webhook-path", Flag: "webhook-path",
		Help: "path of the GitHub webhook on the public listener (on when WEBHOOK_SECRET is set)", Commands: mainCommand}, defaultWebhookPath)
	optWebhookListen = settings.Add(&table, settings.Setting{Name: "webhook-listen", Flag: "webhook-listen", DefaultText: "none: the public listener",
		Help: "serve the webhook on its own address instead (needed in restart mode, where the app owns the port)", Commands: mainCommand}, "")
	optReleaseCommand = settings.Add(&table, settings.Setting{Name: "release-command", Flag: "release-command", Env: "RELEASE_COMMAND", DefaultText: "none",
		Help: "pull deploys (the webhook's, the first start's): run in the new release after its build, before it starts, as ship.yml's release: (migrations); a failure deploys nothing", Commands: mainCommand}, "")
)

// apply copies the settled values into the options runReceiver reads.
func (o *options) apply(v *settings.Values) {
	o.Root, o.Create, o.Listen, o.Start = optRoot.From(v), optCreate.From(v), optListen.From(v), optStart.From(v)
	o.HealthPath, o.Mode, o.LogFormat = optHealthPath.From(v), optMode.From(v), optLogFormat.From(v)
	o.StartTimeout, o.DrainTimeout = optStartTimeout.From(v), optDrainTimeout.From(v)
	o.StopTimeout, o.StageTimeout = optStopTimeout.From(v), optStageTimeout.From(v)
	o.WebhookPath, o.WebhookListen = optWebhookPath.From(v), optWebhookListen.From(v)
	o.ReleaseCommand = optReleaseCommand.From(v)
}
