// The Node peer of the machine-token benchmark (bench/load/machine.sh): Clerk's own
// `authenticateRequest` with `acceptsToken: "api_key"` (@clerk/backend, pinned in
// package.json), as its documentation shows it, in a plain `http` server. Every request
// verifies its API key with the Backend API (`POST {CLERK_API_URL}/api_keys/verify`): the SDK
// has no cache.
//
//   GET /v1/notes  {"items":[],"subject":"<the key's subject>"} for a valid API key, else 401
//
// Environment: PORT, CLERK_SECRET_KEY, CLERK_PUBLISHABLE_KEY, CLERK_API_URL.

import http from "node:http";

import { createClerkClient } from "@clerk/backend";

const port = Number(process.env.PORT ?? 8004);
const clerk = createClerkClient({
  secretKey: process.env.CLERK_SECRET_KEY,
  publishableKey: process.env.CLERK_PUBLISHABLE_KEY,
  apiUrl: process.env.CLERK_API_URL,
});

function send(res, status, body) {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    "content-type": "application/json",
    "content-length": Buffer.byteLength(text),
  });
  res.end(text);
}

async function handle(req, res) {
  if (req.method === "GET" && req.url === "/healthz") {
    return send(res, 200, { status: "ok" });
  }
  if (req.method === "GET" && req.url === "/v1/notes") {
    const request = new Request(`http://127.0.0.1:${port}${req.url}`, {
      headers: { authorization: req.headers.authorization ?? "" },
    });
    const state = await clerk.authenticateRequest(request, { acceptsToken: "api_key" });
    if (!state.isAuthenticated) {
      return send(res, 401, { error: "unauthorized", reason: state.reason ?? null });
    }
    const auth = state.toAuth();
    return send(res, 200, { items: [], subject: auth.subject });
  }
  return send(res, 404, { error: "not found" });
}

http
  .createServer((req, res) => {
    handle(req, res).catch((err) => send(res, 500, { error: String(err?.message ?? err) }));
  })
  .listen(port, "127.0.0.1", () => console.log(`listening on 127.0.0.1:${port}`));
