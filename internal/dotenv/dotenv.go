// Package dotenv writes the .env file ship puts into a release, in the form
// Bun reads back exactly: Bun loads .env from the app's folder by itself, so
// a release's configuration travels with its code.
//
// Bun's reader has its own rules (checked against bun 1.4 by
// TestBunReadsBack): `$NAME` is expanded inside every kind of quotes and
// `\$` is a plain dollar; inside double quotes `\n` and `\r` become line
// breaks; a carriage return written as it is is dropped; a backslash before
// the closing quote escapes it; any other backslash is kept. So a value is
// written between single quotes, or backticks when it holds a single
// quote, or double quotes when it holds both and no backslash (and always
// when it holds a carriage return, written `\r`), with every `$` written
// `\$`. A value none of those can carry (it holds all three quotes, or
// ends with a backslash) is refused with a message, never written wrong.
package dotenv

import (
	"errors"
	"fmt"
	"strings"
)

// Var is one variable of a .env file.
type Var struct {
	Name   string
	Value  string
	Secret bool // its value came from a secret: never shown
}

// ValidName reports whether name can be an environment variable that a
// shell and Bun both take: letters, digits and _, not starting with a digit.
func ValidName(name string) bool {
	if name == "" {
		return false
	}
	for i, r := range name {
		if !(r == '_' || r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z' || i > 0 && r >= '0' && r <= '9') {
			return false
		}
	}
	return true
}

// ErrCannotWrite is a value no .env quoting carries to Bun unchanged.
var ErrCannotWrite = errors.New("cannot be written to a .env file that Bun reads back unchanged")

// Render is the .env file holding vars, one a line, in their order. An
// error names the variable (never its value).
func Render(vars []Var) ([]byte, error) {
	var b strings.Builder
	for _, v := range vars {
		if !ValidName(v.Name) {
			return nil, fmt.Errorf("%q is not a variable name (letters, digits and _, not starting with a digit)", v.Name)
		}
		q, err := Quote(v.Value)
		if err != nil {
			return nil, fmt.Errorf("the value of %s %w", v.Name, err)
		}
		b.WriteString(v.Name + "=" + q + "\n")
	}
	return []byte(b.String()), nil
}

// Quote is value as Bun's .env reader reads it back unchanged.
func Quote(value string) (string, error) {
	if strings.ContainsRune(value, 0) {
		return "", fmt.Errorf("%w: it holds a NUL byte", ErrCannotWrite)
	}
	if strings.HasSuffix(value, `\`) {
		return "", fmt.Errorf("%w: it ends with a backslash, which would escape the closing quote", ErrCannotWrite)
	}
	escaped := strings.ReplaceAll(value, "$", `\$`)
	if strings.Contains(value, "\r") {
		// Bun drops a carriage return written as it is; only double
		// quotes carry one, as \r.
		if strings.ContainsAny(value, `"\`) {
			return "", fmt.Errorf("%w: it holds a carriage return together with \" or a backslash", ErrCannotWrite)
		}
		return `"` + strings.ReplaceAll(escaped, "\r", `\r`) + `"`, nil
	}
	switch {
	case !strings.Contains(value, "'"):
		return "'" + escaped + "'", nil
	case !strings.Contains(value, "`"):
		return "`" + escaped + "`", nil
	case !strings.ContainsAny(value, `"\`):
		return `"` + escaped + `"`, nil
	}
	return "", fmt.Errorf("%w: it holds ' and ` together with \" or a backslash", ErrCannotWrite)
}
