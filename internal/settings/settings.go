package settings

import (
	"fmt"
	"slices"
	"sort"
	"time"
)

// Setting is one row of a Table.
type Setting struct {
	Name  string // what `ship config` calls it; unique in its table
	Flag  string // the flag without dashes; "" for none
	Short string // a one-letter flag; "" for none
	Env   string // the environment variable; "" for none
	Key   string // the key in ship.yml (at the top level or in a target); "" for none
	Kind  Kind   // set by Add from the default's type, except File
	// DefaultText says what the default means where its value alone would
	// not ("ssh-agent", "every entry of shared/"); "" shows the value.
	DefaultText string
	Help        string
	// Commands are the commands that take the setting as a flag.
	Commands []string
	// Secret values are never shown: `ship config` and errors say only
	// whether they are set.
	Secret bool

	def any // the default, of the Kind's Go type
}

// Takes reports whether command takes the setting as a flag.
func (s *Setting) Takes(command string) bool {
	return s.Flag != "" && slices.Contains(s.Commands, command)
}

// Default is the default value as text, for help and documentation.
func (s *Setting) Default() string {
	if s.DefaultText != "" {
		return s.DefaultText
	}
	return s.Kind.format(s.def)
}

// Table is a program's settings, in the order they are documented.
type Table struct {
	rows []*Setting
}

// Rows are the settings in the order they were added.
func (t *Table) Rows() []*Setting { return t.rows }

// Lookup finds a setting by name; nil when there is none.
func (t *Table) Lookup(name string) *Setting {
	for _, s := range t.rows {
		if s.Name == name {
			return s
		}
	}
	return nil
}

// Type is what a setting's value can be in Go.
type Type interface {
	string | int | time.Duration | []string | bool
}

// Key reads one setting's value, of type T, from resolved Values.
type Key[T Type] struct{ s *Setting }

// Add appends s to t with its default and returns the key to read it with.
// It panics on a mistake in the table (a repeated name or flag, a kind that
// does not fit T): those are programming errors, caught by any test.
func Add[T Type](t *Table, s Setting, def T) Key[T] {
	kind := kindOf(def)
	if s.Kind == File && kind == Text {
		kind = File
	}
	if s.Kind == AppEnv && kind == List {
		kind = AppEnv
	}
	if s.Kind != 0 && s.Kind != kind {
		panic(fmt.Sprintf("settings: %s: kind %v does not fit its default %T", s.Name, s.Kind, def))
	}
	for _, o := range t.rows {
		if o.Name == s.Name || (s.Flag != "" && o.Flag == s.Flag) || (s.Env != "" && o.Env == s.Env) || (s.Key != "" && o.Key == s.Key) {
			panic(fmt.Sprintf("settings: %s repeats a name, flag, variable or key of %s", s.Name, o.Name))
		}
	}
	s.Kind, s.def = kind, def
	row := s
	t.rows = append(t.rows, &row)
	return Key[T]{&row}
}

// Setting is the row the key reads.
func (k Key[T]) Setting() *Setting { return k.s }

// From is the setting's value in v.
func (k Key[T]) From(v *Values) T { return v.Get(k.s.Name).v.(T) }

// Given reports whether anything but the default set the value.
func (k Key[T]) Given(v *Values) bool { return v.Get(k.s.Name).Source != Default }

// Source is where a value came from, lowest precedence first.
type Source int

const (
	Default Source = iota
	FileTop
	FileTarget
	Env
	Flag
)

func (s Source) String() string {
	return [...]string{"default", "ship.yml top level", "ship.yml target", "env", "flag"}[s]
}

// Value is one setting's value and where it came from.
type Value struct {
	Setting *Setting
	Source  Source
	// Name is the flag ("--keep") or the variable ("SHIP_KEEP") that gave
	// the value, or the target whose section did.
	Name string
	Line int // the line in the file, for FileTop and FileTarget
	v    any
}

// Text is the value for a person; a secret shows only whether it is set.
func (v Value) Text() string {
	if v.Setting.Secret {
		if v.Source == Default {
			return ""
		}
		return "(set, hidden)"
	}
	return v.Setting.Kind.format(v.v)
}

// From says where the value came from: "flag --keep", "env SHIP_KEEP",
// "ship.yml target prod (line 9)", "ship.yml top level (line 4)", "default".
func (v Value) From() string {
	switch v.Source {
	case Flag, Env:
		return v.Source.String() + " " + v.Name
	case FileTarget:
		return fmt.Sprintf("ship.yml target %s (line %d)", v.Name, v.Line)
	case FileTop:
		return fmt.Sprintf("ship.yml top level (line %d)", v.Line)
	}
	return "default"
}

// Layer is the values one source gives.
type Layer struct {
	Source Source
	vals   map[string]Value
}

func newLayer(src Source) Layer { return Layer{Source: src, vals: map[string]Value{}} }

func (l Layer) set(s *Setting, v any, name string, line int) {
	l.vals[s.Name] = Value{Setting: s, Source: l.Source, Name: name, Line: line, v: v}
}

// Len is how many settings the layer gives.
func (l Layer) Len() int { return len(l.vals) }

// Values are a table's settled values.
type Values struct {
	t    *Table
	vals map[string]Value
}

// Resolve settles every setting of t: each value comes from the layer of
// highest precedence that gives it (flag, env, ship.yml target, ship.yml
// top level), else it is the default. The order of layers does not matter.
func (t *Table) Resolve(layers ...Layer) *Values {
	layers = slices.Clone(layers)
	sort.SliceStable(layers, func(i, j int) bool { return layers[i].Source < layers[j].Source })
	v := &Values{t: t, vals: map[string]Value{}}
	for _, s := range t.rows {
		v.vals[s.Name] = Value{Setting: s, Source: Default, v: s.def}
	}
	for _, l := range layers {
		for name, val := range l.vals {
			v.vals[name] = val
		}
	}
	return v
}

// Get is the value of the setting named name; it panics on a name not in
// the table (a programming error).
func (v *Values) Get(name string) Value {
	val, ok := v.vals[name]
	if !ok {
		panic("settings: no setting named " + name)
	}
	return val
}

// All are the values in the table's order.
func (v *Values) All() []Value {
	out := make([]Value, 0, len(v.t.rows))
	for _, s := range v.t.rows {
		out = append(out, v.vals[s.Name])
	}
	return out
}
