package supervise

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

// hostEnv is the hostEnvNames entries for host.
func hostEnv(host string) []string {
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
