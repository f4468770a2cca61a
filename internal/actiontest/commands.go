package actiontest

import (
	"strconv"
	"strings"
	"unicode"
)

// Command is a workflow command the runner would carry out.
type Command struct {
	Name  string
	Props map[string]string
	Data  string
	Line  int // 0-based index of the line that issued it
}

// Log is a step's output as the runner reads it.
type Log struct {
	Lines    []string
	Commands []Command // carried out, stop-commands and its resume left out
	Fenced   []int     // lines read while commands were stopped
}

// registered are the command names the runner knows; any other "::x::"
// line is plain text to it.
var registered = map[string]bool{
	"add-mask": true, "add-matcher": true, "remove-matcher": true, "add-path": true,
	"set-env": true, "set-output": true, "save-state": true, "echo": true,
	"debug": true, "notice": true, "warning": true, "error": true,
	"group": true, "endgroup": true, "stop-commands": true,
}

// ParseLog reads output the way the runner does (actions/runner's
// ActionCommandManager): lines split at \n, \r\n or \r; a command is
// "::name props::data" after leading white space, or the older
// "##[name props]data" anywhere in a line; after ::stop-commands::TOKEN
// nothing but ::TOKEN:: is a command.
func ParseLog(text string) Log {
	text = strings.ReplaceAll(text, "\r\n", "\n")
	lines := strings.FieldsFunc(text, func(r rune) bool { return r == '\n' || r == '\r' })
	log := Log{Lines: lines}
	stopToken := ""
	for i, line := range lines {
		name, props, data, ok := parseCommand(line, stopToken)
		if stopToken != "" {
			if ok && strings.EqualFold(name, stopToken) {
				stopToken = ""
			} else {
				log.Fenced = append(log.Fenced, i)
			}
			continue
		}
		if !ok {
			continue
		}
		if name == "stop-commands" {
			// The runner refuses an empty token or a command's name.
			if data != "" && !registered[strings.ToLower(data)] {
				stopToken = data
			}
			continue
		}
		log.Commands = append(log.Commands, Command{Name: name, Props: props, Data: data, Line: i})
	}
	return log
}

// Named returns the commands called name.
func (l Log) Named(name string) []Command {
	var out []Command
	for _, c := range l.Commands {
		if c.Name == name {
			out = append(out, c)
		}
	}
	return out
}

// IsFenced reports whether line i was read with commands stopped.
func (l Log) IsFenced(i int) bool {
	for _, f := range l.Fenced {
		if f == i {
			return true
		}
	}
	return false
}

func parseCommand(line, extra string) (name string, props map[string]string, data string, ok bool) {
	known := func(n string) bool {
		return registered[strings.ToLower(n)] || (extra != "" && strings.EqualFold(n, extra))
	}
	if s := strings.TrimLeftFunc(line, unicode.IsSpace); strings.HasPrefix(s, "::") {
		if end := strings.Index(s[2:], "::"); end >= 0 {
			info := s[2 : 2+end]
			name, rest, _ := strings.Cut(info, " ")
			if known(name) {
				props = map[string]string{}
				for _, p := range strings.Split(strings.TrimSpace(rest), ",") {
					if k, v, found := strings.Cut(p, "="); found && k != "" && v != "" {
						props[k] = unescape(v, true)
					}
				}
				return strings.ToLower(name), props, unescape(s[2+end+2:], false), true
			}
		}
	}
	if i := strings.Index(line, "##["); i >= 0 {
		if end := strings.IndexByte(line[i:], ']'); end >= 0 {
			info := line[i+3 : i+end]
			name, rest, _ := strings.Cut(info, " ")
			if known(name) {
				props = map[string]string{}
				for _, p := range strings.Split(rest, ";") {
					if k, v, found := strings.Cut(p, "="); found && k != "" && v != "" {
						props[k] = unescape(v, true)
					}
				}
				return strings.ToLower(name), props, unescape(line[i+end+1:], false), true
			}
		}
	}
	return "", nil, "", false
}

func unescape(s string, property bool) string {
	pairs := []string{"%0D", "\r", "%0A", "\n"}
	if property {
		pairs = append(pairs, "%3A", ":", "%2C", ",")
	}
	pairs = append(pairs, "%25", "%")
	return strings.NewReplacer(pairs...).Replace(s)
}

// ReadFileCommands reads a $GITHUB_OUTPUT (or $GITHUB_ENV) file as the
// runner does: "name=value" lines, and "name<<DELIMITER" followed by the
// value's lines and the delimiter alone on a line. Later values win.
func ReadFileCommands(text string) (map[string]string, error) {
	out := map[string]string{}
	lines := strings.Split(strings.ReplaceAll(text, "\r\n", "\n"), "\n")
	for i := 0; i < len(lines); i++ {
		line := lines[i]
		if line == "" {
			continue
		}
		eq, heredoc := strings.Index(line, "="), strings.Index(line, "<<")
		if eq >= 0 && (heredoc < 0 || eq < heredoc) {
			out[line[:eq]] = line[eq+1:]
			continue
		}
		if heredoc <= 0 {
			return nil, &fileCommandError{line: i + 1, msg: "neither name=value nor name<<DELIMITER"}
		}
		name, delim := line[:heredoc], line[heredoc+2:]
		if delim == "" {
			return nil, &fileCommandError{line: i + 1, msg: "empty delimiter"}
		}
		var value []string
		closed := false
		for i++; i < len(lines); i++ {
			if lines[i] == delim {
				closed = true
				break
			}
			value = append(value, lines[i])
		}
		if !closed {
			return nil, &fileCommandError{line: i, msg: "delimiter " + delim + " never closes " + name}
		}
		out[name] = strings.Join(value, "\n")
	}
	return out, nil
}

type fileCommandError struct {
	line int
	msg  string
}

func (e *fileCommandError) Error() string { return "line " + strconv.Itoa(e.line) + ": " + e.msg }
