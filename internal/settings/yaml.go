package settings

import (
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"
)

// Problem is one mistake in a settings file, said for a person.
type Problem struct {
	Line int
	Msg  string // "keeep: did you mean keep?"
}

// Problems are every mistake found in one file; as an error, one per line
// as "ship.yml:3: keeep: did you mean keep?".
type Problems struct {
	File string // as the person named it, or found it
	List []Problem
}

func (p *Problems) Error() string {
	lines := make([]string, len(p.List))
	for i, pr := range p.List {
		lines[i] = fmt.Sprintf("%s:%d: %s", p.File, pr.Line, pr.Msg)
	}
	return strings.Join(lines, "\n")
}

// AsProblems finds the Problems in err.
func AsProblems(err error) (*Problems, bool) {
	var p *Problems
	return p, errors.As(err, &p)
}

// YAMLSection says how to read one mapping of a settings file.
type YAMLSection struct {
	Source Source // FileTop or FileTarget
	Target string // the target's name, for FileTarget
	Path   string // the keys above, for messages: "targets.prod."
	Dir    string // the file's folder: relative File values start there
	// Extra are the keys the caller reads itself ("targets", "hosts");
	// their nodes are returned.
	Extra []string
	// Elsewhere says, for a key that belongs in another section, where it
	// goes: "hosts" → "hosts belong in a target: …".
	Elsewhere map[string]string
}

// YAMLLayer reads the settings in mapping m. Every key must be a setting's
// Key or one of sec.Extra; every value must fit its setting's kind. A
// null value (`repo:`) is not set.
func (t *Table) YAMLLayer(m *yaml.Node, sec YAMLSection) (Layer, map[string]*yaml.Node, []Problem) {
	l := newLayer(sec.Source)
	extra := map[string]*yaml.Node{}
	var probs []Problem
	if m.Tag == "!!null" {
		return l, extra, nil // "name:" with nothing under it
	}
	if m.Kind != yaml.MappingNode {
		msg := "want settings as key: value lines, got " + describe(m)
		if where := strings.TrimSuffix(sec.Path, "."); where != "" {
			msg = where + ": " + msg
		}
		return l, extra, []Problem{{m.Line, msg}}
	}
	seen := map[string]int{}
	for i := 0; i+1 < len(m.Content); i += 2 {
		k, v := m.Content[i], m.Content[i+1]
		first, twice := seen[k.Value]
		if !twice {
			seen[k.Value] = k.Line
		}
		switch s := t.byKey(k.Value); {
		case twice:
			probs = append(probs, Problem{k.Line, fmt.Sprintf("%s%s: given twice (first on line %d)", sec.Path, k.Value, first)})
		case slices.Contains(sec.Extra, k.Value):
			extra[k.Value] = v
		case sec.Elsewhere[k.Value] != "":
			probs = append(probs, Problem{k.Line, sec.Path + k.Value + ": " + sec.Elsewhere[k.Value]})
		case s == nil:
			probs = append(probs, Problem{k.Line, sec.Path + k.Value + ": " + t.unknownKey(k.Value, sec.Extra)})
		case v.Tag == "!!null":
		default:
			val, err := s.Kind.fromYAML(v)
			var each nodeProblems
			if errors.As(err, &each) {
				for _, p := range each {
					probs = append(probs, Problem{p.Line, sec.Path + k.Value + ": " + p.Msg})
				}
				continue
			}
			if err != nil {
				probs = append(probs, Problem{v.Line, sec.Path + k.Value + ": " + err.Error()})
				continue
			}
			if s.Kind == File && val.(string) != "" && !filepath.IsAbs(val.(string)) && !strings.HasPrefix(val.(string), "~") {
				val = filepath.Join(sec.Dir, val.(string))
			}
			l.set(s, val, sec.Target, k.Line)
		}
	}
	return l, extra, probs
}

// Keys are the keys a settings file takes, in the table's order.
func (t *Table) Keys() []string {
	var keys []string
	for _, s := range t.rows {
		if s.Key != "" {
			keys = append(keys, s.Key)
		}
	}
	return keys
}

func (t *Table) byKey(key string) *Setting {
	for _, s := range t.rows {
		if s.Key != "" && s.Key == key {
			return s
		}
	}
	return nil
}

// unknownKey names the closest known key, or lists them all.
func (t *Table) unknownKey(key string, extra []string) string {
	known := append(slices.Clone(extra), t.Keys()...)
	if c := Closest(key, known); c != "" {
		return "did you mean " + c + "?"
	}
	return "not a setting; known here: " + strings.Join(known, ", ")
}

// fromYAML reads a node as a value of the kind. A list takes a YAML list
// or one text of names; the other kinds take one scalar.
func (k Kind) fromYAML(n *yaml.Node) (any, error) {
	if k == AppEnv {
		return envFromYAML(n)
	}
	if k == List && n.Kind == yaml.SequenceNode {
		list := []string{}
		for _, item := range n.Content {
			if item.Kind != yaml.ScalarNode {
				return nil, &ValueError{Want: "a list of names", Got: describe(item)}
			}
			list = append(list, item.Value)
		}
		return list, nil
	}
	if n.Kind != yaml.ScalarNode {
		return nil, fmt.Errorf("want %s, got %s", k.want(), describe(n))
	}
	return k.parse(n.Value)
}

// describe names what a node holds, for "got …".
func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.SequenceNode:
		return "a list"
	case yaml.MappingNode:
		return "key: value lines"
	case yaml.AliasNode:
		return "an alias"
	}
	return fmt.Sprintf("%q", n.Value)
}

// Closest is the candidate nearest to word (by edits, a swap of two letters
// counting as one), or "" when none is near enough to be a typo.
func Closest(word string, candidates []string) string {
	best, bestD := "", 0
	for _, c := range candidates {
		d := distance(strings.ToLower(word), c)
		if best == "" || d < bestD {
			best, bestD = c, d
		}
	}
	limit := 2
	if len(word) <= 4 {
		limit = 1
	}
	if best == "" || bestD > limit {
		return ""
	}
	return best
}

// distance is the optimal string alignment distance: insertions,
// deletions, substitutions and swaps of neighbours each cost one.
func distance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	d := make([][]int, len(ra)+1)
	for i := range d {
		d[i] = make([]int, len(rb)+1)
		d[i][0] = i
	}
	for j := range rb {
		d[0][j+1] = j + 1
	}
	for i := 1; i <= len(ra); i++ {
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && ra[i-1] == rb[j-2] && ra[i-2] == rb[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(ra)][len(rb)]
}
