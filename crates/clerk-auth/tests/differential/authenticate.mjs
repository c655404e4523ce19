// Runs Clerk's own `authenticateRequest({ acceptsToken })` (@clerk/backend, pinned in
// package.json) on a list of requests and prints the resulting states as JSON, for
// crates/clerk-auth/tests/differential_machine.rs to compare with ours.
//
// Usage: node authenticate.mjs cases.json
//
// cases.json:
//   {
//     "jwtKey": "<SPKI PEM>",            networkless verification of every JWT (clerk-spec §3.1)
//     "secretKey": "sk_test_...",        required by authenticateRequest
//     "publishableKey": "pk_test_...",   required; its Frontend API host is the tokens' issuer
//     "apiUrl": "http://127.0.0.1:<port>", optional: the Backend API (the emulator) for opaque
//                                        tokens; without it every network access fails
//     "nowMs": 1767225600000,            pins Date.now() so time checks are exact
//     "authorizedParties": ["https://..."],
//     "cases": [{ "id": "...",
//                 "token": "..." | null,          null: no Authorization header at all
//                 "acceptsToken": "any" | "<type>" | ["<type>", ...],
//                 "audience": [...],              optional
//                 "secretKey": "sk_test_...",     optional: another secret key for this case
//                 "clockSkewInMs": 0 }]           optional; Clerk's default 5000 when absent
//   }
//
// Output, one entry per case, in order:
//   [{ "id", "status", "isAuthenticated", "tokenType", "reason", "message", "fetches",
//      "auth": { the fields of state.toAuth() listed below, null when absent } }
//    { "id", "thrown": "TypeError", "message": "...", "fetches" }]
// The second form is authenticateRequest rejecting its promise (Clerk crashed on the
// request); it is reported, not hidden. `fetches` counts the network requests the case made.
//
// fetch is replaced before Clerk is loaded: it refuses every URL except those under
// `apiUrl` when `apiUrl` is a loopback URL, so that no case can reach a real Clerk.

import { readFileSync } from "node:fs";

const path = process.argv[2];
if (!path) {
  console.error("usage: node authenticate.mjs <cases.json>");
  process.exit(2);
}
const input = JSON.parse(readFileSync(path, "utf8"));

function loopbackBase(url) {
  if (typeof url !== "string") {
    return null;
  }
  const parsed = new URL(url);
  const loopback = ["127.0.0.1", "[::1]", "localhost"].includes(parsed.hostname);
  if (!loopback || parsed.protocol !== "http:") {
    throw new Error(`differential test: apiUrl must be a loopback http URL, not ${url}`);
  }
  return parsed;
}

const allowed = loopbackBase(input.apiUrl);
const realFetch = globalThis.fetch;
let fetches = 0;
globalThis.fetch = (resource, init) => {
  fetches += 1;
  const url = new URL(typeof resource === "string" ? resource : resource.url ?? String(resource));
  if (allowed && url.origin === allowed.origin && url.pathname.startsWith(allowed.pathname)) {
    return realFetch(resource, init);
  }
  return Promise.reject(new Error(`differential test: network access to ${url.href} refused`));
};

if (typeof input.nowMs === "number") {
  const nowMs = input.nowMs;
  Date.now = () => nowMs;
}

const { createClerkClient } = await import("@clerk/backend");

const clerk = createClerkClient({
  secretKey: input.secretKey,
  publishableKey: input.publishableKey,
  jwtKey: input.jwtKey,
  ...(input.apiUrl ? { apiUrl: input.apiUrl } : {}),
  telemetry: { disabled: true },
});

// The fields of the auth objects (dist/tokens/authObjects.d.ts): machine objects carry id,
// subject, scopes, claims and one of machineId / userId, orgId, name / userId, clientId;
// session objects userId, sessionId, orgId.
const FIELDS = [
  "tokenType",
  "isAuthenticated",
  "id",
  "subject",
  "scopes",
  "claims",
  "name",
  "machineId",
  "userId",
  "orgId",
  "clientId",
  "sessionId",
];

function authFields(auth) {
  if (!auth) {
    return null;
  }
  const out = {};
  for (const field of FIELDS) {
    out[field] = auth[field] === undefined ? null : auth[field];
  }
  return out;
}

const results = [];
for (const c of input.cases) {
  fetches = 0;
  const headers = {};
  if (typeof c.token === "string") {
    headers.Authorization = "Bearer " + c.token;
  }
  const request = new Request("http://localhost:3000/api/resource", { headers });
  const options = {
    acceptsToken: c.acceptsToken,
    jwtKey: input.jwtKey,
    authorizedParties: c.authorizedParties ?? input.authorizedParties,
  };
  if (c.audience !== undefined) {
    options.audience = c.audience;
  }
  if (c.clockSkewInMs !== undefined) {
    options.clockSkewInMs = c.clockSkewInMs;
  }
  if (c.secretKey !== undefined) {
    options.secretKey = c.secretKey;
  }
  try {
    const state = await clerk.authenticateRequest(request, options);
    results.push({
      id: c.id,
      status: state.status,
      isAuthenticated: state.isAuthenticated,
      tokenType: state.tokenType ?? null,
      reason: state.reason ?? null,
      message: state.message ?? null,
      fetches,
      auth: authFields(state.toAuth()),
    });
  } catch (err) {
    results.push({
      id: c.id,
      thrown: err?.name ?? typeof err,
      message: String(err?.message ?? err),
      fetches,
    });
  }
}
process.stdout.write(JSON.stringify(results));
