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
// into "NODE_ENV=production", "DATABASE_URL", "SESSION_KEY".
func envFromYAML(n *yaml.Node) (any, error) {
	if n.Kind != yaml.MappingNode {
		return nil, fmt.Errorf("want %s, got %s", AppEnv.want(), describe(n))
	}
	var entries []string
	seen := map[string]string{}
	name := func(it *yaml.Node, part string) error {
		switch {
		case it.Kind != yaml.ScalarNode:
			return fmt.Errorf("%s: want variable names, got %s", part, describe(it))
		case !dotenv.ValidName(it.Value):
			return fmt.Errorf("%s: %q is not a variable name (letters, digits and _, not starting with a digit)", part, it.Value)
		case seen[it.Value] != "":
			return fmt.Errorf("%s: %s is given twice (also in %s)", part, it.Value, seen[it.Value])
		}
		seen[it.Value] = part
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		switch {
		case v.Tag == "!!null":
		case k.Value == "clear" && v.Kind == yaml.MappingNode:
			for j := 0; j+1 < len(v.Content); j += 2 {
				kn, vn := v.Content[j], v.Content[j+1]
				if err := name(kn, "clear"); err != nil {
					return nil, err
				}
				if vn.Kind != yaml.ScalarNode {
					return nil, fmt.Errorf("clear: %s: want text, got %s", kn.Value, describe(vn))
				}
				entries = append(entries, kn.Value+"="+vn.Value)
			}
		case k.Value == "clear":
			return nil, fmt.Errorf("clear: want NAME: value lines, got %s", describe(v))
		case k.Value == "secret":
			items := []*yaml.Node{v}
			if v.Kind == yaml.SequenceNode {
				items = v.Content
			}
			for _, it := range items {
				if err := name(it, "secret"); err != nil {
					return nil, err
				}
				entries = append(entries, it.Value)
			}
		default:
			hint := "want clear: or secret:"
			if c := Closest(k.Value, []string{"clear", "secret"}); c != "" {
				hint = "did you mean " + c + "?"
			}
			return nil, fmt.Errorf("%s: %s", k.Value, hint)
		}
	}
	return entries, nil
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
