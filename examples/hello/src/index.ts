// The example app ship deploys in its demo and tests: a Hono app on Bun that
// says which release serves it. START_DELAY_MS makes it slow to listen, like
// a real app warming up; FAIL_HEALTH makes /healthz answer 500.
//
// It listens on PORT at HOST: behind the receiver's proxy HOST is 127.0.0.1,
// so the app's port is not reachable around the proxy. Bun.serve reads no
// host variable itself (its default is 0.0.0.0), hence the explicit hostname.
import { Hono } from "hono";
import { version } from "./version";

const app = new Hono();
const release = process.cwd().split("/").pop();

app.get("/", (c) => c.text(`hello from release ${release} (${version})\n`));
app.get("/healthz", (c) =>
  process.env.FAIL_HEALTH ? c.text("unhealthy\n", 500) : c.text("ok\n"),
);

const delay = Number(process.env.START_DELAY_MS ?? 0);
if (delay > 0) await Bun.sleep(delay);

const hostname = process.env.HOST || "0.0.0.0";
const server = Bun.serve({ hostname, port: Number(process.env.PORT ?? 3000), fetch: app.fetch });
console.log(`listening on ${hostname}:${server.port}, release ${release} (${version})`);
