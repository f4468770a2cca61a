package containertest

import (
	"testing"

	"github.com/shipdeploy/ship/internal/testenv"
)

// TestMain removes the programs the tests built (testenv.Program).
func TestMain(m *testing.M) { testenv.Main(m) }
