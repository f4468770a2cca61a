package settings

import (
	"fmt"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/shipdeploy/ship/internal/dotenv"
)

// envFromYAML reads an AppEnv setting:
//
//	env:
//	  clear:
//	    NODE_ENV: production
//	  secret: [DATABASE_URL, SESSION_KEY]
//
// into "NODE_ENV=production", "DATABASE_URL", "SESSION_KEY". Every mistake
// in it is reported, each on its own line (nodeProblems).
func envFromYAML(n *yaml.Node) (any, error) {
	if n.Kind != yaml.MappingNode {
		return nil, fmt.Errorf("want %s, got %s", AppEnv.want(), describe(n))
	}
	r := envReader{seen: map[string]string{}}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		switch {
		case v.Tag == "!!null":
		case k.Value == "clear" && v.Kind == yaml.MappingNode:
			for j := 0; j+1 < len(v.Content); j += 2 {
				r.clearEntry(v.Content[j], v.Content[j+1])
			}
		case k.Value == "clear":
			r.problem(v, "clear: want NAME: value lines, got %s", describe(v))
		case k.Value == "secret":
			items := []*yaml.Node{v}
			if v.Kind == yaml.SequenceNode {
				items = v.Content
			}
			for _, it := range items {
				if r.name(it, "secret") {
					r.entries = append(r.entries, it.Value)
				}
			}
		default:
			hint := "want clear: or secret:"
			if c := Closest(k.Value, []string{"clear", "secret"}); c != "" {
				hint = "did you mean " + c + "?"
			}
			r.problem(k, "%s: %s", k.Value, hint)
		}
	}
	if len(r.probs) > 0 {
		return nil, r.probs
	}
	return r.entries, nil
}

// envReader gathers an env: section's entries and its mistakes.
type envReader struct {
	entries []string
	seen    map[string]string // name → the part that gave it
	probs   nodeProblems
}

func (r *envReader) problem(at *yaml.Node, format string, args ...any) {
	r.probs = append(r.probs, Problem{at.Line, fmt.Sprintf(format, args...)})
}

// name checks a variable's name in part (clear or secret).
func (r *envReader) name(it *yaml.Node, part string) bool {
	switch {
	case it.Kind != yaml.ScalarNode:
		r.problem(it, "%s: want variable names, got %s", part, describe(it))
	case !dotenv.ValidName(it.Value):
		r.problem(it, "%s: %q is not a variable name (letters, digits and _, not starting with a digit)", part, it.Value)
	case r.seen[it.Value] != "":
		r.problem(it, "%s: %s is given twice (also in %s)", part, it.Value, r.seen[it.Value])
	default:
		r.seen[it.Value] = part
		return true
	}
	return false
}

// clearEntry takes NAME: value under clear:.
func (r *envReader) clearEntry(k, v *yaml.Node) {
	if !r.name(k, "clear") {
		return
	}
	if v.Kind != yaml.ScalarNode {
		r.problem(v, "clear: %s: want text, got %s", k.Value, describe(v))
		return
	}
	r.entries = append(r.entries, k.Value+"="+v.Value)
}

// nodeProblems are a value's mistakes, each at its own line (the file
// reports them one by one).
type nodeProblems []Problem

func (p nodeProblems) Error() string {
	msgs := make([]string, len(p))
	for i, pr := range p {
		msgs[i] = pr.Msg
	}
	return strings.Join(msgs, "; ")
}

// envText is an AppEnv value for a person: clear values shown, secrets named.
func envText(entries []string) string {
	parts := make([]string, len(entries))
	for i, e := range entries {
		if strings.Contains(e, "=") {
			parts[i] = e
		} else {
			parts[i] = e + " (secret, from ship's environment)"
		}
	}
	return strings.Join(parts, ", ")
}
