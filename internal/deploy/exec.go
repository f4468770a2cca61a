package deploy

import (
	_ "embed"
	"fmt"
	"strings"

	"github.com/shipdeploy/ship/internal/shell"
)

//go:embed exec.sh
var execScriptBody string

// ExecScript is the host program of `ship exec`: command, run with sh in
// the release folder dir (releases/N under root), with the release's
// environment (what Bun reads from its .env files) exported.
func ExecScript(root, dir, command string) string {
	return releaseScript(root, dir, "0", command)
}

// EnvScript is the host program of `ship env`: it prints, as one JSON
// object, the variables Bun reads from the .env files of dir.
func EnvScript(root, dir string) string {
	return releaseScript(root, dir, "1", "")
}

func releaseScript(root, dir, listEnv, command string) string {
	var b strings.Builder
	// The command is the person's own shell text, $ and all.
	b.WriteString("# ship: generated values (every one quoted)\n# shellcheck disable=SC2016\n")
	for _, kv := range [][2]string{{"root", root}, {"dir", dir}, {"list_env", listEnv}, {"cmd", command}} {
		fmt.Fprintf(&b, "%s=%s\n", kv[0], shell.Quote(kv[1]))
	}
	b.WriteString(appEnvScript)
	b.WriteString(execScriptBody)
	return b.String()
}
