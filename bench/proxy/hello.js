// The app the proxy benchmark puts behind bun, nginx and ship: the smallest
// Bun server, so the numbers measure the proxies, not the app.
const server = Bun.serve({
  hostname: "127.0.0.1",
  port: Number(process.env.PORT || 3000),
  fetch() {
    return new Response("Hello, World!");
  },
});
console.log(`hello listening on ${server.hostname}:${server.port}`);
