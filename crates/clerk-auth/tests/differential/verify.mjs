// Runs Clerk's own `verifyToken` (@clerk/backend, pinned in package.json) on a list of tokens
// and prints its verdicts as JSON, for crates/clerk-auth/tests/differential.rs to compare with
// ours.
//
// Usage: node verify.mjs cases.json
//
// cases.json:
//   {
//     "jwtKey": "<SPKI PEM>",             networkless verification (clerk-spec §3.1)
//     "authorizedParties": ["https://..."],
//     "clockSkewInMs": 5000,               optional, Clerk's default when absent
//     "nowMs": 1767225600000,              optional: pins Date.now() so time checks are exact
//     "cases": [{ "id": "...", "token": "...",
//                 "authorizedParties": [...], "clockSkewInMs": 0 }]   per-case overrides
//   }
//
// Output, one entry per case, in order:
//   [{ "id", "ok": true, "reason": null, "sub": "<payload.sub>" }
//    { "id", "ok": false, "reason": "<TokenVerificationError.reason>", "message": "..." }
//    { "id", "ok": false, "reason": null, "thrown": "TypeError", "message": "..." }]
// The last form is an exception that is not a TokenVerificationError (Clerk crashed on the
// token); it is reported, not hidden.
//
// Only `jwtKey` is passed as a key source: with it, verifyToken never resolves a JWKS, so no
// secretKey or publishableKey is needed. As a guard, fetch is replaced before Clerk is loaded
// and throws if anything tries to use the network.

import { readFileSync } from "node:fs";

globalThis.fetch = () => {
  throw new Error("differential test: network access is disabled");
};

const path = process.argv[2];
if (!path) {
  console.error("usage: node verify.mjs <cases.json>");
  process.exit(2);
}
const input = JSON.parse(readFileSync(path, "utf8"));

if (typeof input.nowMs === "number") {
  const nowMs = input.nowMs;
  Date.now = () => nowMs;
}

// `verifyToken` from the package root is the legacy form: it resolves to the payload or
// throws the first TokenVerificationError (dist/index.mjs: withLegacyReturn).
const { verifyToken } = await import("@clerk/backend");

const results = [];
for (const c of input.cases) {
  const options = {
    jwtKey: input.jwtKey,
    authorizedParties: c.authorizedParties ?? input.authorizedParties,
  };
  const skew = c.clockSkewInMs ?? input.clockSkewInMs;
  if (skew !== undefined) {
    options.clockSkewInMs = skew;
  }
  try {
    const payload = await verifyToken(c.token, options);
    results.push({ id: c.id, ok: true, reason: null, sub: payload?.sub });
  } catch (err) {
    if (err && typeof err.reason === "string") {
      results.push({ id: c.id, ok: false, reason: err.reason, message: String(err.message) });
    } else {
      results.push({
        id: c.id,
        ok: false,
        reason: null,
        thrown: err?.name ?? typeof err,
        message: String(err?.message ?? err),
      });
    }
  }
}
process.stdout.write(JSON.stringify(results));
