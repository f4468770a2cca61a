package settings

import (
	"strings"
)

// MarkdownOptions say which columns a documentation table has.
type MarkdownOptions struct {
	Key bool // a ship.yml column
	// Commands names a row's commands in the table; nil leaves the column out.
	Commands func(cmds []string) string
}

// Markdown is the table as a Markdown table, for the README: the settings
// are documented from the same rows that make the flags.
func (t *Table) Markdown(o MarkdownOptions) string {
	head := []string{"flag", "env"}
	if o.Key {
		head = append(head, "ship.yml")
	}
	head = append(head, "default")
	if o.Commands != nil {
		head = append(head, "commands")
	}
	head = append(head, "")
	var b strings.Builder
	row := func(cells []string) { b.WriteString("| " + strings.Join(cells, " | ") + " |\n") }
	row(head)
	b.WriteString(strings.Repeat("|---", len(head)) + "|\n")
	for _, s := range t.rows {
		cells := []string{code(flagName(s)), code(s.Env)}
		if o.Key {
			cells = append(cells, code(s.Key))
		}
		def := s.Default()
		if s.DefaultText == "" && def != "" {
			def = code(def)
		}
		cells = append(cells, def)
		if o.Commands != nil {
			cells = append(cells, o.Commands(s.Commands))
		}
		help := s.Help
		if s.Secret {
			help += " (secret: never shown)"
		}
		row(append(cells, strings.ReplaceAll(help, "|", `\|`)))
	}
	return b.String()
}

func flagName(s *Setting) string {
	if s.Flag == "" {
		return ""
	}
	if s.Short != "" {
		return "-" + s.Short + ", --" + s.Flag
	}
	return "--" + s.Flag
}

func code(s string) string {
	if s == "" {
		return ""
	}
	return "`" + s + "`"
}
