package receivercmd

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/shipdeploy/ship/internal/buildinfo"
)

// Version is set at build time with -ldflags
// "-X github.com/shipdeploy/ship/internal/receivercmd.Version=v1.2.3";
// without it, `receiver version` says what Go recorded.
var Version = "dev"

// versionText is what `receiver version` and `receiver --version` print.
func versionText() string { return buildinfo.Read(Version).String("receiver") }

func newVersionCmd(d deps) *cobra.Command {
	return &cobra.Command{
		Use:     "version",
		Short:   "Print the receiver's version, commit, date and Go version",
		Example: "  receiver version\n  receiver --version",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, err := fmt.Fprint(d.stdout, versionText())
			return err
		},
	}
}
