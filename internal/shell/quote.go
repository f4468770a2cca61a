// Package shell builds command lines for a POSIX shell on another machine.
//
// Every value that reaches a remote shell (paths, refs, URLs, commands from
// configuration are the exception: they are meant to be shell) goes through
// Quote. Nothing else in ship concatenates user input into a command line.
package shell

import "strings"

// Quote returns s as a single shell word that the shell reads back as exactly
// s: wrapped in single quotes, each embedded single quote written as a
// closing quote, an escaped quote and an opening quote.
// No character inside single quotes is special to a POSIX shell, so $(...),
// backticks, ; and newlines are all taken literally.
func Quote(s string) string {
	if s == "" {
		return "''"
	}
	if isSafe(s) {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// Join quotes each word and joins them with spaces.
func Join(words ...string) string {
	q := make([]string, len(words))
	for i, w := range words {
		q[i] = Quote(w)
	}
	return strings.Join(q, " ")
}

// isSafe reports whether s has only characters that no shell treats specially,
// so that it can be sent bare and stays readable in logs.
func isSafe(s string) bool {
	for _, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9':
		case strings.ContainsRune("-_./:@%+=,", r):
		default:
			return false
		}
	}
	// A leading '-' is safe for the shell but not for the commands that read
	// it; callers put "--" where it matters. A leading '=' or '%' is harmless.
	return true
}
