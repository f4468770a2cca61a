package receivercmd

import (
	"testing"

	"github.com/shipdeploy/ship/internal/settings"
	"github.com/shipdeploy/ship/internal/testenv"
)

// README's table of the receiver's flags is the table of settings.go.
func TestReadmeReceiverFlags(t *testing.T) {
	testenv.DocBlock(t, "README.md", "receiver table", table.Markdown(settings.MarkdownOptions{}))
}
