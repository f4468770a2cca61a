// Package receivercmd is the receiver's command line: `receiver` runs on the
// server (a container's entrypoint, or a service), starts the app in the
// release folder `current` resolves to, and switches releases when ship
// writes releases/RELOAD (or on SIGHUP).
//
// In proxy mode (the default) the receiver owns the public port and
// reverse-proxies to the app, which listens on a free loopback port. A reload
// starts the new release next to the old one, waits until it is healthy,
// switches the proxy, lets the old one finish its requests, then stops it: no
// request is refused. If the new release never becomes healthy, the old one
// keeps serving and .ship/state.json says why. In restart mode the app owns
// the public port: a reload stops it and starts the new one (a short outage).
//
// One goroutine (the loop in loop.go) owns the serving instance and makes
// every decision; the watcher, the signal handler and the heartbeat only
// poke it or read its state.
package receivercmd
