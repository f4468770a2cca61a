// Package pull runs deploys on the server itself, for the receiver: a
// webhook push (deploy exactly its commit) and the container's first start
// (deploy the branch before the app starts).
//
// Both go through internal/deploy on host.Local, so they take the same
// .ship/lock as `ship deploy` and wait for it (LockWait) rather than fail
// when a push deploy holds it.
//
// Git over SSH uses the deploy key from GIT_SSH_KEY: written for one deploy
// into a fresh 0700 folder with mode 0600, with a known_hosts beside it
// (GitHub's published host keys unless overridden), and handed to git as
// GIT_SSH_COMMAND with IdentitiesOnly and strict host key checking. The
// folder is removed when the deploy ends. The key's text never appears in
// a log line or an error.
package pull
