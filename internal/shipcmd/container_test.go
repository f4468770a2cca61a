package shipcmd

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestContainerSettings: --container and --engine come from ship.yml, SHIP_*
// and flags like the other settings; what OpenContainer says names the
// container and engine that won. No engine runs here: internal/containertest
// deploys into a real container.
func TestContainerSettings(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "ship.yml")
	yml := "engine: lxc\ntargets:\n  box:\n    hosts: [local]\n    container: from-yml\n"
	if err := os.WriteFile(cfg, []byte(yml), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		env  map[string]string
		args []string
		want []string
	}{
		{"ship.yml", nil, nil, []string{`engine "lxc": want docker or podman`}},
		{"env beats ship.yml", map[string]string{"SHIP_ENGINE": "docker", "SHIP_CONTAINER": "from-env"}, nil,
			[]string{"docker", "container from-env"}},
		{"flags beat env", map[string]string{"SHIP_ENGINE": "docker", "SHIP_CONTAINER": "from-env"},
			[]string{"--container", "from-flag", "--engine", "rkt"}, []string{`engine "rkt"`}},
		{"a name read as a flag", nil, []string{"--engine", "docker", "--container=-it"}, []string{`container name "-it"`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out strings.Builder
			a := &app{stdout: &out, stderr: &out, getenv: func(k string) string { return tc.env[k] }}
			code := a.run(t.Context(), append([]string{"status", "box", "--config", cfg}, tc.args...))
			for _, want := range tc.want {
				if code == 0 || !strings.Contains(out.String(), want) {
					t.Errorf("exit %d, output lacks %q:\n%s", code, want, out.String())
				}
			}
		})
	}
}
