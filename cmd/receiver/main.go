// Command receiver runs on the server: it supervises the app, proxies to it,
// and switches releases when ship asks. See internal/receivercmd.
package main

import (
	"os"

	"github.com/shipdeploy/ship/internal/receivercmd"
)

func main() { os.Exit(receivercmd.Main()) }
