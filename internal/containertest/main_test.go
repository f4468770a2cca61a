package containertest

import (
	"os"
	"testing"

	"github.com/shipdeploy/ship/internal/testenv"
)

// TestMain removes the programs the tests built (testenv.Program).
func TestMain(m *testing.M) {
	code := m.Run()
	testenv.RemovePrograms()
	os.Exit(code)
}
