"""The FastAPI examples of gateway/examples/ behind the real gateway and nginx."""

from __future__ import annotations

import base64
import json
import time

import httpx
import jwt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from conftest import HOST


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", "Host": HOST}


def test_the_headers_example_reads_the_gateways_identity(headers_app, gateway):
    reply = httpx.get(f"{headers_app['proxy']}/whoami", headers=bearer(gateway["session_token"]))
    assert reply.status_code == 200, reply.text
    who = reply.json()["identity"]
    assert who["token_type"] == "session_token"
    assert who["user_id"].startswith("user_")
    assert who["session_id"].startswith("sess_")
    assert who["org_slug"] == "acme"
    assert who["org_role"] == "org:admin"
    assert "org:notes:write" in who["org_permissions"]
    assert who["scopes"] == [] and who["machine_id"] == ""


def test_the_headers_example_checks_a_permission(headers_app, gateway):
    reply = httpx.delete(f"{headers_app['proxy']}/notes/7", headers=bearer(gateway["session_token"]))
    assert reply.status_code == 200, reply.text
    assert reply.json()["deleted"] == 7


def test_a_client_cannot_forge_the_headers_examples_identity(headers_app, gateway):
    forged = {"X-Clerk-User-Id": "user_forged", "X-Clerk-Org-Permissions": "org:notes:write"}
    # Without a credential nginx refuses before the service is reached.
    reply = httpx.get(f"{headers_app['proxy']}/whoami", headers={**forged, "Host": HOST})
    assert reply.status_code == 401, reply.text
    # With one, the gateway's identity replaces the forged headers.
    reply = httpx.get(
        f"{headers_app['proxy']}/whoami", headers={**forged, **bearer(gateway["session_token"])}
    )
    assert reply.status_code == 200, reply.text
    assert reply.json()["identity"]["user_id"] not in ("", "user_forged")


def test_the_identity_example_verifies_the_signed_identity(identity_app, gateway):
    reply = httpx.get(f"{identity_app['proxy']}/notes", headers=bearer(gateway["session_token"]))
    assert reply.status_code == 200, reply.text
    body = reply.json()
    assert body["owner"].startswith("user_")
    assert body["org"] == "acme"
    assert body["token_type"] == "session_token"


def test_the_identity_example_refuses_what_did_not_come_through_the_gateway(identity_app, gateway):
    direct = identity_app["direct"]
    # Headers alone, as a caller that bypasses the proxy would send them.
    reply = httpx.get(f"{direct}/notes", headers={"X-Clerk-User-Id": "user_forged", "Host": HOST})
    assert reply.status_code == 401, reply.text
    # A signed identity of the right shape, signed with a key that is not the gateway's.
    kid = httpx.get(f"{gateway['url']}/.well-known/jwks.json").json()["keys"][0]["kid"]
    now = int(time.time())
    claims = {
        "iss": "clerk-gateway", "aud": HOST, "sub": "user_forged", "iat": now, "nbf": now,
        "exp": now + 60, "token_type": "session_token", "user_id": "user_forged",
        "session_id": "", "org_id": "", "org_slug": "", "org_role": "",
        "org_permissions": [], "machine_id": "", "scopes": [],
    }
    forged = jwt.encode(claims, Ed25519PrivateKey.generate(), algorithm="EdDSA", headers={"kid": kid})
    reply = httpx.get(f"{direct}/notes", headers={"X-Clerk-Identity": forged, "Host": HOST})
    assert reply.status_code == 401, reply.text
    assert "signature" in reply.json()["detail"].lower()


def test_the_identity_example_refuses_an_identity_meant_for_another_host(identity_app, gateway):
    # Through the proxy, for another host: the gateway signs aud = that host.
    headers = {**bearer(gateway["session_token"]), "Host": "other.example.com"}
    reply = httpx.get(f"{identity_app['proxy']}/notes", headers=headers)
    assert reply.status_code == 401, reply.text
    assert "audience" in reply.json()["detail"].lower()


def test_the_signed_identity_lives_at_most_a_minute(gateway):
    # What the example verifies, read here: a short-lived token for this host.
    reply = httpx.get(f"{gateway['url']}/forward-auth", headers=bearer(gateway["session_token"]) | {
        "X-Forwarded-Host": HOST, "X-Forwarded-Method": "GET", "X-Forwarded-Uri": "/notes"})
    assert reply.status_code == 200, reply.text
    token = reply.headers["x-clerk-identity"]
    payload = token.split(".")[1]
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    assert claims["aud"] == HOST
    assert 0 < claims["exp"] - claims["iat"] <= 60
