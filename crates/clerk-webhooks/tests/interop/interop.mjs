// The independent side of tests/interop.rs: the `standardwebhooks` package, which Clerk's own
// `verifyWebhook` calls. Reads {sign, verify} as JSON on stdin and writes
// {signatures, verdicts} as JSON on stdout.
//
// sign:   [{secrets, id, timestamp, body}] -> the signature header: one `v1,<base64>` entry per
//         secret, joined by spaces (what Svix sends during a secret rotation).
// verify: [{secret, headers, body}] -> {ok} or {ok: false, error}, with Webhook#verify and the
//         system clock, as a Clerk endpoint would run it.
import { readFileSync } from "node:fs";
import { Webhook } from "standardwebhooks";

const input = JSON.parse(readFileSync(0, "utf8"));

const signatures = input.sign.map(({ secrets, id, timestamp, body }) =>
  secrets
    .map((secret) => new Webhook(secret).sign(id, new Date(timestamp * 1000), body))
    .join(" "),
);

const verdicts = input.verify.map(({ secret, headers, body }) => {
  try {
    new Webhook(secret).verify(body, headers, { jsonParse: false });
    return { ok: true };
  } catch (err) {
    return { ok: false, error: String(err?.message ?? err) };
  }
});

process.stdout.write(JSON.stringify({ signatures, verdicts }));
