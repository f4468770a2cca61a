// Package remote is a deploy target over SSH: a Client implements host.Host
// with one TCP connection that carries an SFTP session for file work
// (release.FS) and an exec session per command.
//
// Dial honours the parts of ~/.ssh/config that name a host (Host aliases
// with HostName, User, Port, IdentityFile, ProxyJump), finds keys as
// OpenSSH does (an explicit key, else ssh-agent, else the identity files),
// and checks host keys strictly against known_hosts, asking the server only
// for the key types known_hosts holds for it. Errors say what to do next:
// ErrHostKeyUnknown and ErrHostKeyChanged carry the offered fingerprint, and
// work cut off by a broken connection fails with ErrConnectionLost, found by
// keepalives when the network drops silently. Latency is the cost that
// matters on a deploy link, so a command takes one round trip when the
// spare session channel kept open ahead of it is ready.
package remote
