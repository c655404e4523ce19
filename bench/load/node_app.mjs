// The Node peer of the load benchmark (bench/load/run.sh): Clerk's own `verifyToken`
// (@clerk/backend, pinned in package.json) in a plain `http` server, networkless with
// `jwtKey` (the PEM public key, read once at start-up), as Clerk documents it.
//
//   GET /healthz    {"status":"ok"}
//   GET /protected  {"user_id","email"} from a valid `Authorization: Bearer <token>`, else 401
//
// Environment: PORT, CLERK_JWT_KEY_FILE (the PEM), CLERK_AUTHORIZED_PARTIES (comma-separated,
// optional), NODE_WORKERS (default 1: a single process; N > 1: a cluster of N processes
// sharing the port, Node's usual way to use several cores).

import cluster from "node:cluster";
import { readFileSync } from "node:fs";
import http from "node:http";

import { verifyToken } from "@clerk/backend";

const port = Number(process.env.PORT ?? 8003);
const workers = Number(process.env.NODE_WORKERS ?? 1);
const jwtKey = readFileSync(process.env.CLERK_JWT_KEY_FILE, "ascii");
const authorizedParties = (process.env.CLERK_AUTHORIZED_PARTIES ?? "")
  .split(",")
  .map((s) => s.trim())
  .filter(Boolean);

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
  if (req.method === "GET" && req.url === "/protected") {
    const header = req.headers.authorization ?? "";
    const token = header.startsWith("Bearer ") ? header.slice(7) : "";
    if (!token) {
      return send(res, 401, { error: "missing token" });
    }
    try {
      const claims = await verifyToken(token, {
        jwtKey,
        authorizedParties: authorizedParties.length ? authorizedParties : undefined,
      });
      return send(res, 200, { user_id: claims.sub, email: claims.email ?? null });
    } catch (err) {
      return send(res, 401, { error: err?.reason ?? "invalid token" });
    }
  }
  return send(res, 404, { error: "not found" });
}

if (workers > 1 && cluster.isPrimary) {
  for (let i = 0; i < workers; i++) {
    cluster.fork();
  }
  cluster.on("exit", (worker, code) => {
    console.error(`node_app: worker ${worker.process.pid} exited with ${code}`);
    process.exit(1);
  });
} else {
  http
    .createServer((req, res) => {
      handle(req, res).catch((err) => send(res, 500, { error: String(err) }));
    })
    .listen(port, "127.0.0.1", () => {
      console.log(`node_app listening on 127.0.0.1:${port} (pid ${process.pid})`);
    });
}
