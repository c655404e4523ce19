"""Parity with clerk-auth: the corpus written by `cargo run -p clerk-python --example
parity-corpus` (tokens of every shape, each with clerk-auth's verdict) verified through the
package, with the same keys and configuration: the same verdict, reason and claims on every
token. tests/python/run.sh writes the corpus and passes its path in PARITY_CORPUS."""

from __future__ import annotations

import json
import os
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Iterator

import pytest

from clerk_verifier import Auth, ClerkAuthError, MachineAuth, Verifier

from conftest import free_port


@pytest.fixture(scope="module")
def corpus() -> dict[str, Any]:
    path = os.environ.get("PARITY_CORPUS")
    if not path:
        pytest.fail(
            "PARITY_CORPUS is not set: run tests/python/run.sh, or "
            "`cargo run -p clerk-python --example parity-corpus -- FILE` and PARITY_CORPUS=FILE"
        )
    with open(path) as f:
        data: dict[str, Any] = json.load(f)
    return data


@pytest.fixture(scope="module")
def jwks_url(corpus: dict[str, Any]) -> Iterator[str]:
    """The corpus's JWKS, served on a loopback port."""
    body = json.dumps(corpus["jwks"]).encode()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            self.send_response(200 if self.path == "/.well-known/jwks.json" else 404)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/.well-known/jwks.json"
    server.shutdown()


def build(corpus: dict[str, Any], name: str, jwks_url: str) -> Verifier:
    config = corpus["configs"][name]
    options: dict[str, Any] = {"issuer": config["issuer"], "background_refresh": False}
    if config["key"] == "pem":
        options["jwt_key"] = corpus["jwt_key"]
    elif config["key"] == "jwks":
        options["jwks_url"] = jwks_url
    else:  # "down": nothing listens there
        options["jwks_url"] = f"http://127.0.0.1:{free_port()}/.well-known/jwks.json"
    for option in ("authorized_parties", "audience", "clock_skew_ms", "treat_pending_as_signed_out"):
        if option in config:
            options[option] = config[option]
    return Verifier(**options)


def verdict(v: Verifier, case: dict[str, Any]) -> dict[str, Any]:
    try:
        if case["method"] == "verify":
            result: Auth | MachineAuth = v.verify(case["token"])
        elif case["method"] == "verify_request":
            result = v.verify_request([tuple(h) for h in case["headers"]])
        else:
            result = v.authenticate(case["token"], case["accepts_token"])
    except ClerkAuthError as err:
        return {"ok": False, "reason": err.reason, "status": err.status}
    if isinstance(result, MachineAuth):
        return {
            "ok": True,
            "claims": {
                "token_type": result.token_type,
                "id": result.id,
                "subject": result.subject,
                "scopes": result.scopes,
            },
        }
    checks = case["expect"].get("has", [])
    return {
        "ok": True,
        "claims": {
            "token_type": result.token_type,
            "user_id": result.user_id,
            "session_id": result.session_id,
            "org_id": result.org_id,
            "org_role": result.org_role,
            "org_slug": result.org_slug,
            "org_permissions": result.org_permissions,
            "is_pending": result.is_pending,
            "expires_at": result.expires_at,
        },
        "has": [[kind, value, result.has(**{kind: value})] for kind, value, _ in checks],
    }


def test_every_token_gets_clerk_auths_verdict(corpus: dict[str, Any], jwks_url: str) -> None:
    cases = corpus["cases"]
    assert len(cases) >= 40
    accepted = sum(case["expect"]["ok"] for case in cases)
    assert accepted >= 10 and len(cases) - accepted >= 30  # both verdicts well represented
    mismatches = []
    for case in cases:
        got = verdict(build(corpus, case["config"], jwks_url), case)
        if got != case["expect"]:
            mismatches.append(f"{case['name']} ({case['config']}): rust {case['expect']} python {got}")
    assert not mismatches, "\n".join(mismatches)


def test_the_corpus_covers_every_reason_and_form(corpus: dict[str, Any]) -> None:
    reasons = {case["expect"].get("reason") for case in corpus["cases"]}
    assert {
        "token-expired", "token-not-active-yet", "token-iat-in-the-future", "token-invalid",
        "token-invalid-signature", "token-invalid-algorithm", "token-invalid-issuer",
        "token-invalid-authorized-parties", "jwk-kid-mismatch", "keys-unavailable",
        "session-pending", "token-type-mismatch", "session-token-missing",
        "machine-tokens-disabled",
    } <= reasons
    types = {case["expect"]["claims"]["token_type"] for case in corpus["cases"] if case["expect"]["ok"]}
    assert types == {"session_token", "m2m_token", "oauth_token"}
    assert {case["method"] for case in corpus["cases"]} == {"verify", "verify_request", "authenticate"}
