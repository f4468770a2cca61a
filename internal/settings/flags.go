package settings

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// AddFlags adds a flag to fs for every setting with a flag that pick
// accepts. The help text ends with the default and the variable:
// "finished releases to keep (default 4) [SHIP_KEEP]".
func (t *Table) AddFlags(fs *pflag.FlagSet, pick func(*Setting) bool) {
	for _, s := range t.rows {
		if s.Flag == "" || !pick(s) {
			continue
		}
		f := fs.VarPF(&flagValue{s: s}, s.Flag, s.Short, Usage(s))
		f.DefValue = "" // the default is in the usage text, in our words
		if s.Kind == Switch {
			f.NoOptDefVal = "true"
		}
		if s.Kind == File {
			_ = fs.SetAnnotation(s.Flag, cobra.BashCompFilenameExt, []string{}) // complete file names
		}
	}
}

// Usage is a setting's help with its default and variable.
func Usage(s *Setting) string {
	u := s.Help
	if d := s.Default(); d != "" && s.Kind != Switch {
		u += " (default " + d + ")"
	}
	if s.Env != "" {
		u += " [" + s.Env + "]"
	}
	return u
}

// FlagLayer is the flags of fs that were given on the command line.
func (t *Table) FlagLayer(fs *pflag.FlagSet) Layer {
	l := newLayer(Flag)
	for _, s := range t.rows {
		if s.Flag == "" {
			continue
		}
		f := fs.Lookup(s.Flag)
		if f == nil || !f.Changed {
			continue
		}
		if fv, ok := f.Value.(*flagValue); ok && fv.s == s {
			l.set(s, fv.v, "--"+s.Flag, 0)
		}
	}
	return l
}

// flagValue is a setting's flag: it parses by the setting's kind.
type flagValue struct {
	s   *Setting
	v   any
	set bool
}

func (f *flagValue) String() string { return f.s.Kind.format(f.v) }
func (f *flagValue) Type() string   { return f.s.Kind.typeName() }

// IsBoolFlag lets pflag treat a Switch as a boolean flag.
func (f *flagValue) IsBoolFlag() bool { return f.s.Kind == Switch }

func (f *flagValue) Set(text string) error {
	v, err := f.s.Kind.parse(text)
	if err != nil {
		return err
	}
	// A repeated list flag adds to the list: --shared .env --shared uploads/.
	if prev, ok := f.v.([]string); ok && f.set {
		v = append(prev, v.([]string)...)
	}
	f.v, f.set = v, true
	return nil
}

// FlagError rewrites pflag's errors about a flag's value in one line that
// says which flag, what was wrong, and what the flag is for:
// "--keep three: want a number (--keep: finished releases to keep …)".
// Other errors are returned as they are.
func FlagError(err error) error {
	var bad *pflag.InvalidValueError
	var missing *pflag.ValueRequiredError
	switch {
	case errors.As(err, &bad):
		f, v := bad.GetFlag(), bad.GetValue()
		return fmt.Errorf("--%s %s: %s (--%s: %s)", f.Name, v, why(f, errors.Unwrap(bad)), f.Name, f.Usage)
	case errors.As(err, &missing):
		f := missing.GetFlag()
		return fmt.Errorf("--%s needs a value (--%s: %s)", f.Name, f.Name, f.Usage)
	}
	return err
}

// why says what a bad flag value should have been, in the words of
// ValueError also for pflag's own flags (an int, a bool).
func why(f *pflag.Flag, cause error) string {
	var ve *ValueError
	var ne *strconv.NumError
	switch {
	case errors.As(cause, &ve):
		return "want " + ve.Want
	case f.Value.Type() == "bool":
		return "want " + Switch.want()
	case errors.As(cause, &ne):
		return "want " + Number.want()
	}
	return strings.TrimPrefix(cause.Error(), "time: ")
}
