package supervise

import "sync"

// LoopbackHost is where an app behind the receiver's proxy listens: only
// the proxy reaches it, so nothing goes around the proxy to the app's port.
const LoopbackHost = "127.0.0.1"

// KeepHost as Spec.Host sets no host variable: the app listens where its
// environment or its code says (restart mode, where it owns the public port).
const KeepHost = "keep"

// hostEnvNames are the variables through which common servers take the
// address to listen on: HOST (SvelteKit's adapter-node, Astro's node adapter,
// remix-serve, Nitro), NITRO_HOST (Nuxt, which reads it before HOST) and
// HOSTNAME (Next.js's standalone server.js). Bun.serve reads none of them:
// its hostname defaults to 0.0.0.0, so a Bun app passes
// `hostname: process.env.HOST` (examples/hello does).
var hostEnvNames = []string{"HOST", "NITRO_HOST", "HOSTNAME"}

var defaultHost struct {
	sync.Mutex
	host string
}

// SetDefaultHost sets what an empty Spec.Host means for every later Start:
// LoopbackHost (the default), KeepHost, or an address. It lets a caller that
// builds Specs without a Host choose for all of them at once; one that sets
// Spec.Host does not need it.
func SetDefaultHost(host string) {
	defaultHost.Lock()
	defaultHost.host = host
	defaultHost.Unlock()
}

// hostEnv is the hostEnvNames entries for host.
func hostEnv(host string) []string {
	if host == "" {
		defaultHost.Lock()
		host = defaultHost.host
		defaultHost.Unlock()
	}
	switch host {
	case KeepHost:
		return nil
	case "":
		host = LoopbackHost
	}
	env := make([]string, len(hostEnvNames))
	for i, k := range hostEnvNames {
		env[i] = k + "=" + host
	}
	return env
}
