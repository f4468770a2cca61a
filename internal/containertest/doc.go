// Package containertest builds the project's Dockerfile with podman and runs
// the image the way the README's container quick start does: first start
// from GIT_REPO, deploys inside the container, a signed webhook push, and
// `ship deploy HOST --container` over SSH, all under load; the health check,
// a graceful stop, and the ownership of a host folder mounted as /app.
//
// No registry is reachable from the test machines, so the base images the
// Dockerfile names are local stand-ins made from a Debian rootfs
// (testenv.DebianRootfs) with this machine's Go toolchain and bun. The test
// needs root, podman, runc and mmdebstrap (scripts/setup installs them); it
// skips without them, and fails in strict mode (SHIP_TEST_STRICT=1).
package containertest
