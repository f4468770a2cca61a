package shipcmd

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/shipdeploy/ship/internal/buildinfo"
)

// versionText is what `ship version` and `ship --version` print.
func versionText() string { return buildinfo.Read(Version).String("ship") }

func (a *app) newVersionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print ship's version, commit, date and Go version",
		Long: `version prints the version ship was built as, the commit it was built from
(and whether the tree had uncommitted changes), that commit's date and the Go
version. ship --version prints the same.`,
		Example: "  ship version",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, err := fmt.Fprint(a.stdout, versionText())
			return err
		},
	}
}
