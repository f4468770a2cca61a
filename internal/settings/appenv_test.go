package settings

import (
	"slices"
	"strings"
	"testing"
)

func TestAppEnvFromYAML(t *testing.T) {
	var tab Table
	env := Add(&tab, Setting{Name: "env", Key: "env", Kind: AppEnv, Help: "the app's environment"}, []string(nil))
	l, _, probs := tab.YAMLLayer(yamlMapping(t, "env:\n  clear:\n    NODE_ENV: production\n    PORT_HINT: 3000\n    EMPTY: ''\n  secret: [DATABASE_URL, KEY]\n"), YAMLSection{Source: FileTop})
	if len(probs) > 0 {
		t.Fatal(probs)
	}
	got := env.From(tab.Resolve(l))
	want := []string{"NODE_ENV=production", "PORT_HINT=3000", "EMPTY=", "DATABASE_URL", "KEY"}
	if !slices.Equal(got, want) {
		t.Errorf("env = %q, want %q", got, want)
	}
	if text := tab.Resolve(l).Get("env").Text(); !strings.Contains(text, "DATABASE_URL (secret, from ship's environment)") || !strings.Contains(text, "NODE_ENV=production") {
		t.Errorf("text = %q", text)
	}
	for _, c := range []struct{ yaml, want string }{
		{"env: [A, B]\n", `env: want clear: (NAME: value lines) and secret: (a list of names), got a list`},
		{"env:\n  secrets: [A]\n", "env: secrets: did you mean secret?"},
		{"env:\n  clear:\n    BAD-NAME: x\n", `env: clear: "BAD-NAME" is not a variable name`},
		{"env:\n  clear:\n    A: [1, 2]\n", "env: clear: A: want text, got a list"},
		{"env:\n  clear:\n    A: x\n  secret: [A]\n", "env: secret: A is given twice (also in clear)"},
		{"env:\n  clear: [A]\n", "env: clear: want NAME: value lines, got a list"},
	} {
		_, _, probs := tab.YAMLLayer(yamlMapping(t, c.yaml), YAMLSection{Source: FileTop})
		if len(probs) != 1 || !strings.HasPrefix(probs[0].Msg, c.want) {
			t.Errorf("%q: problems %v, want one starting %q", c.yaml, probs, c.want)
		}
	}
	// Every mistake, each at its own line.
	_, _, probs = tab.YAMLLayer(yamlMapping(t, "env:\n  clear:\n    BAD-NAME: x\n    OK: fine\n    A: [1]\n  secret: [OK, 9LIVES]\n  secrett: []\n"), YAMLSection{Source: FileTop})
	wantProbs := []Problem{
		{3, `env: clear: "BAD-NAME" is not a variable name (letters, digits and _, not starting with a digit)`},
		{5, "env: clear: A: want text, got a list"},
		{6, "env: secret: OK is given twice (also in clear)"},
		{6, `env: secret: "9LIVES" is not a variable name (letters, digits and _, not starting with a digit)`},
		{7, "env: secrett: did you mean secret?"},
	}
	if !slices.Equal(probs, wantProbs) {
		t.Errorf("problems:\n%v\nwant:\n%v", probs, wantProbs)
	}
}
