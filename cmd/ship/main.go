// Command ship deploys Bun apps over SSH with zero downtime.
package main

import (
	"os"

	"github.com/shipdeploy/ship/internal/shipcmd"
)

func main() { os.Exit(shipcmd.Main()) }
