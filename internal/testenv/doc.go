// Package testenv brings the real parts that integration tests use: a
// throwaway OpenSSH server on loopback, the bun and git binaries, and a TCP
// forwarder that cuts or slows connections on demand.
//
// ship's tests run against real things rather than mocks (a real sshd, real
// bun), so a missing part must not pass unnoticed: by default a test that
// lacks one is skipped with the reason and how to install it, and with
// SHIP_TEST_STRICT=1 (set by CI) it fails instead. scripts/setup installs
// everything that these helpers look for.
package testenv
