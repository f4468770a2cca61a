package settings

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Kind is what a setting's value is, as a person would say it.
type Kind int

const (
	Text     Kind = iota + 1 // any text
	File                     // a file on this machine: text, relative to ship.yml when set there
	Number                   // a whole number, 0 or more
	Duration                 // 30s, 2m, 1h30m or 0; a bare number is seconds
	List                     // names separated by commas or spaces; a YAML list in a file
	Switch                   // true or false; a flag without a value is true
	// AppEnv is the app's environment: in ship.yml, clear: (NAME: value
	// lines) and secret: (names whose values come from ship's own
	// environment). Its Go value is []string: "NAME=value" for a clear
	// variable, "NAME" for a secret one.
	AppEnv
)

func kindOf(def any) Kind {
	switch def.(type) {
	case string:
		return Text
	case int:
		return Number
	case time.Duration:
		return Duration
	case []string:
		return List
	case bool:
		return Switch
	}
	panic(fmt.Sprintf("settings: no kind for %T", def))
}

// want is what a value of the kind looks like, for "want …, got …".
func (k Kind) want() string {
	return map[Kind]string{
		Text: "text", File: "a file name", Number: "a number", List: "a list",
		Duration: "a duration such as 30s, 2m or 0", Switch: "true or false",
		AppEnv: "clear: (NAME: value lines) and secret: (a list of names)",
	}[k]
}

// typeName is the word flag help shows after a flag that takes a value.
func (k Kind) typeName() string {
	return map[Kind]string{
		Text: "string", File: "file", Number: "int", List: "strings", Duration: "duration", Switch: "bool",
		AppEnv: "env",
	}[k]
}

func (k Kind) String() string { return k.typeName() }

// ValueError is a value that is not of its setting's kind.
type ValueError struct {
	Want string // "a number"
	Got  string // the text as given
}

func (e *ValueError) Error() string { return fmt.Sprintf("want %s, got %q", e.Want, e.Got) }

// parse reads text as a value of the kind: the one rule for flags, the
// environment and file scalars.
func (k Kind) parse(text string) (any, error) {
	bad := &ValueError{Want: k.want(), Got: text}
	switch k {
	case Number:
		n, err := strconv.Atoi(strings.TrimSpace(text))
		if err != nil {
			return nil, bad
		}
		if n < 0 {
			bad.Want = "a number of 0 or more"
			return nil, bad
		}
		return n, nil
	case Duration:
		d, err := parseDuration(strings.TrimSpace(text))
		if err != nil {
			return nil, bad
		}
		if d < 0 {
			bad.Want = "a duration of 0 or more"
			return nil, bad
		}
		return d, nil
	case List:
		return splitList(text), nil
	case AppEnv:
		// Only ship.yml gives an environment: its values are not one line.
		return nil, bad
	case Switch:
		b, err := strconv.ParseBool(strings.TrimSpace(text))
		if err != nil {
			return nil, bad
		}
		return b, nil
	}
	return text, nil
}

// parseDuration reads Go's form (90s, 2m, 1h30m) or a bare whole number of
// seconds, as ship.yml's `wait: 60` and Kamal's configs mean it.
func parseDuration(s string) (time.Duration, error) {
	if n, err := strconv.Atoi(s); err == nil {
		return time.Duration(n) * time.Second, nil
	}
	return time.ParseDuration(s)
}

// splitList splits on commas and white space: ".env, uploads/" and
// ".env uploads/" are the same two entries.
func splitList(s string) []string {
	return strings.Fields(strings.ReplaceAll(s, ",", " "))
}

// format is a value as a person reads it (and as parse reads it back).
func (k Kind) format(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case int:
		return strconv.Itoa(x)
	case time.Duration:
		return FormatDuration(x)
	case []string:
		if k == AppEnv {
			return envText(x)
		}
		return strings.Join(x, ",")
	case bool:
		return strconv.FormatBool(x)
	}
	return fmt.Sprint(v)
}

// FormatDuration writes d as a setting is written: 0, 15s, 60s, 10m, 1h.
func FormatDuration(d time.Duration) string {
	switch {
	case d == 0:
		return "0"
	case d%time.Hour == 0:
		return fmt.Sprintf("%dh", d/time.Hour)
	case d%time.Minute == 0 && d > time.Minute:
		return fmt.Sprintf("%dm", d/time.Minute)
	case d%time.Second == 0:
		return fmt.Sprintf("%ds", d/time.Second)
	}
	return d.String()
}
