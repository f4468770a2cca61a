package faulttest

import (
	"testing"

	"github.com/shipdeploy/ship/internal/testenv"
)

// TestMain removes the programs the tests built once they ran.
func TestMain(m *testing.M) { testenv.Main(m) }
