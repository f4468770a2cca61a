// Package actiontest checks what ship gives GitHub Actions users without a
// GitHub runner: actionlint over the workflows, the structure of action.yml
// (inputs reach scripts only through env:), the composite action's steps run
// the way a runner runs them against a real sshd, and the Dockerfile's
// instructions.
//
// Log (commands.go) models how the runner reads workflow commands from a
// step's output, so tests here and in internal/shipcmd can say which
// commands a log would have issued and which lines were fenced off.
package actiontest
