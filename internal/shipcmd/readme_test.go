package shipcmd

import (
	"slices"
	"strings"
	"testing"

	"github.com/shipdeploy/ship/internal/settings"
	"github.com/shipdeploy/ship/internal/testenv"
)

// README's Settings table is the table of settings.go.
func TestReadmeSettings(t *testing.T) {
	md := table.Markdown(settings.MarkdownOptions{Key: true, Commands: func(cmds []string) string {
		if slices.Equal(cmds, targetCommands) {
			return "every command with a TARGET"
		}
		return strings.Join(cmds, ", ")
	}})
	testenv.DocBlock(t, "README.md", "settings table", md)
}
