// The Node auth service of the gateway benchmark (bench/gateway/run.sh): what a user would
// write instead of clerk-gateway, a plain `node:http` server that asks Clerk's own
// `authenticateRequest` (@clerk/backend, pinned in package.json beside this file, which is why
// it lives here) about each nginx `auth_request` subrequest, networkless with `jwtKey` (the PEM
// public key, read once at start-up).
//
//   GET /healthz   200 {"status":"ok"}
//   any other      the decision about the original request: 200 with X-Clerk-User-Id,
//                  X-Clerk-Session-Id, X-Clerk-Org-Id, X-Clerk-Org-Slug, X-Clerk-Org-Role,
//                  X-Clerk-Org-Permissions and X-Clerk-Token-Type when signed in, else 401
//
// The original request is rebuilt from nginx's subrequest: its headers (nginx passes the
// client's, Authorization and Cookie included), X-Original-Method, X-Original-URI,
// X-Forwarded-Host and X-Forwarded-Proto (the shipped gateway/deploy/nginx.conf sets them).
//
// Environment: PORT, CLERK_JWT_KEY_FILE (the PEM), CLERK_SECRET_KEY and CLERK_PUBLISHABLE_KEY
// (authenticateRequest requires both; with `jwtKey` neither is used to reach Clerk),
// CLERK_AUTHORIZED_PARTIES (comma-separated, optional), NODE_WORKERS (default 1: a single
// process; N > 1: a cluster of N processes sharing the port).

import cluster from "node:cluster";
import { readFileSync } from "node:fs";
import http from "node:http";

import { createClerkClient } from "@clerk/backend";

const port = Number(process.env.PORT ?? 8004);
const workers = Number(process.env.NODE_WORKERS ?? 1);
const jwtKey = readFileSync(process.env.CLERK_JWT_KEY_FILE, "ascii");
const authorizedParties = (process.env.CLERK_AUTHORIZED_PARTIES ?? "")
  .split(",")
  .map((s) => s.trim())
  .filter(Boolean);

const clerk = createClerkClient({
  secretKey: process.env.CLERK_SECRET_KEY,
  publishableKey: process.env.CLERK_PUBLISHABLE_KEY,
  jwtKey,
});

function send(res, status, headers, body) {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    ...headers,
    "content-type": "application/json",
    "content-length": Buffer.byteLength(text),
  });
  res.end(text);
}

// The client's request as nginx saw it, for authenticateRequest (a Fetch API Request).
function originalRequest(req) {
  const headers = new Headers();
  for (let i = 0; i < req.rawHeaders.length; i += 2) {
    headers.append(req.rawHeaders[i], req.rawHeaders[i + 1]);
  }
  const proto = req.headers["x-forwarded-proto"] ?? "http";
  const host = req.headers["x-forwarded-host"] ?? req.headers.host ?? "localhost";
  const uri = req.headers["x-original-uri"] ?? req.url;
  return new Request(`${proto}://${host}${uri}`, {
    method: req.headers["x-original-method"] ?? "GET",
    headers,
  });
}

async function handle(req, res) {
  if (req.url === "/healthz") {
    return send(res, 200, {}, { status: "ok" });
  }
  const state = await clerk.authenticateRequest(originalRequest(req), {
    authorizedParties: authorizedParties.length ? authorizedParties : undefined,
  });
  if (!state.isAuthenticated) {
    return send(res, 401, { "www-authenticate": 'Bearer error="invalid_token"' }, { error: state.reason });
  }
  const auth = state.toAuth();
  return send(
    res,
    200,
    {
      "x-clerk-user-id": auth.userId ?? "",
      "x-clerk-session-id": auth.sessionId ?? "",
      "x-clerk-org-id": auth.orgId ?? "",
      "x-clerk-org-slug": auth.orgSlug ?? "",
      "x-clerk-org-role": auth.orgRole ?? "",
      "x-clerk-org-permissions": (auth.orgPermissions ?? []).join(","),
      "x-clerk-token-type": auth.tokenType ?? "",
    },
    { status: "ok" },
  );
}

if (workers > 1 && cluster.isPrimary) {
  for (let i = 0; i < workers; i++) {
    cluster.fork();
  }
  cluster.on("exit", (worker, code) => {
    console.error(`node_auth: worker ${worker.process.pid} exited with ${code}`);
    process.exit(1);
  });
} else {
  http
    .createServer((req, res) => {
      handle(req, res).catch((err) => send(res, 500, {}, { error: String(err) }));
    })
    .listen(port, "127.0.0.1", () => {
      console.log(`node_auth listening on 127.0.0.1:${port} (pid ${process.pid})`);
    });
}
