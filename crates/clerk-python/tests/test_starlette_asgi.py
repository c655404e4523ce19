"""The Starlette authentication backend and the plain ASGI middleware, each in an app under a
real uvicorn on a loopback port, called over HTTP with httpx (and a WebSocket client)."""

from __future__ import annotations

from typing import Iterator

import httpx
import pytest
import websockets.sync.client
from websockets.exceptions import InvalidStatus

from clerk_verifier.testing import Emulator

from conftest import free_port, uvicorn

INVALID = 'Bearer error="invalid_token"'


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def app_env(clerk: Emulator) -> dict[str, str]:
    return {
        "CLERK_JWKS_URL": clerk.jwks_url,
        "CLERK_ISSUER": clerk.issuer,
        "TEST_DOWN_JWKS_URL": f"http://127.0.0.1:{free_port()}/.well-known/jwks.json",
    }


@pytest.fixture(scope="module")
def starlette_server(clerk_emulator: Emulator) -> Iterator[str]:
    with uvicorn("asgi_apps:starlette_app", app_env(clerk_emulator)) as base:
        yield base


@pytest.fixture(scope="module")
def asgi_server(clerk_emulator: Emulator) -> Iterator[str]:
    with uvicorn("asgi_apps:asgi_app", app_env(clerk_emulator)) as base:
        yield base


@pytest.fixture(scope="module")
def fastapi_middleware_server(clerk_emulator: Emulator) -> Iterator[str]:
    with uvicorn("asgi_apps:fastapi_outer", app_env(clerk_emulator)) as base:
        yield base


def assert_refused_401(r: httpx.Response, reason: str) -> None:
    assert r.status_code == 401, r.text
    assert r.headers["www-authenticate"] == INVALID
    assert r.headers["content-type"] == "application/json"
    body = r.json()
    assert (body["error"], body["reason"]) == ("unauthorized", reason)
    assert body["message"]


# ---- Starlette ----


def test_starlette_session_sets_user_and_scopes(starlette_server: str, clerk_token) -> None:
    token = clerk_token(
        user_id="user_star", org_id="org_1", org_role="org:admin",
        org_permissions=["org:invoices:read"],
    )
    r = httpx.get(f"{starlette_server}/me", headers=bearer(token))
    assert r.status_code == 200, r.text
    assert r.json() == {
        "user_id": "user_star",
        "display_name": "user_star",
        "org_id": "org_1",
        "scopes": ["authenticated", "role:org:admin", "permission:org:invoices:read"],
    }
    r = httpx.get(f"{starlette_server}/me", headers={"Cookie": f"__session={token}"})
    assert r.json()["user_id"] == "user_star"


def test_starlette_anonymous_without_token(starlette_server: str) -> None:
    r = httpx.get(f"{starlette_server}/me")
    assert r.status_code == 200
    assert r.json() == {"user_id": None, "scopes": []}
    # Starlette's `requires` decides: 403 for an anonymous request.
    assert httpx.get(f"{starlette_server}/private").status_code == 403


def test_starlette_bad_token_is_401_json_not_400(starlette_server: str, clerk_token) -> None:
    assert_refused_401(
        httpx.get(f"{starlette_server}/me", headers=bearer(clerk_token(expires_in=-3600))),
        "token-expired",
    )
    assert_refused_401(
        httpx.get(f"{starlette_server}/me", headers=bearer(clerk_token(bad_signature=True))),
        "token-invalid-signature",
    )
    assert_refused_401(httpx.get(f"{starlette_server}/private", headers=bearer("garbage")), "token-invalid")


def test_starlette_requires_scopes(starlette_server: str, clerk_token) -> None:
    admin = clerk_token(org_id="org_1", org_role="org:admin", org_permissions=["org:invoices:read"])
    member = clerk_token(org_id="org_1", org_role="org:member", org_permissions=[])
    assert httpx.get(f"{starlette_server}/admin", headers=bearer(admin)).status_code == 200
    assert httpx.get(f"{starlette_server}/invoices", headers=bearer(admin)).status_code == 200
    assert httpx.get(f"{starlette_server}/admin", headers=bearer(member)).status_code == 403
    assert httpx.get(f"{starlette_server}/invoices", headers=bearer(member)).status_code == 403
    assert httpx.get(f"{starlette_server}/private", headers=bearer(member)).status_code == 200


def test_starlette_503_when_no_key(starlette_server: str, clerk_token) -> None:
    r = httpx.get(f"{starlette_server}/down/me", headers=bearer(clerk_token()))
    assert r.status_code == 503, r.text
    assert r.headers["retry-after"] == "7"
    assert r.json()["error"] == "unavailable"
    assert r.json()["reason"] == "keys-unavailable"


def test_starlette_websocket(starlette_server: str, clerk_token) -> None:
    url = starlette_server.replace("http://", "ws://") + "/ws"
    token = clerk_token(user_id="user_ws")
    with websockets.sync.client.connect(url, additional_headers={"Cookie": f"__session={token}"}) as ws:
        assert ws.recv() == '{"user_id":"user_ws"}'
    with websockets.sync.client.connect(url) as ws:
        assert ws.recv() == '{"user_id":null}'
    # Refused by Starlette's middleware before the handshake completes.
    with pytest.raises(InvalidStatus) as refused:
        websockets.sync.client.connect(url, additional_headers={"Cookie": "__session=garbage"})
    assert refused.value.response.status_code == 403


# ---- any ASGI app ----


def test_asgi_session_in_scope_state(asgi_server: str, clerk_token) -> None:
    token = clerk_token(user_id="user_asgi")
    r = httpx.get(f"{asgi_server}/me", headers=bearer(token))
    assert r.status_code == 200, r.text
    assert r.json() == {"user_id": "user_asgi", "path": "/me"}
    r = httpx.get(f"{asgi_server}/me", headers={"Cookie": f"a=b; __session={token}"})
    assert r.json()["user_id"] == "user_asgi"


def test_asgi_refusals(asgi_server: str, clerk_token) -> None:
    assert_refused_401(httpx.get(f"{asgi_server}/me"), "session-token-missing")
    assert_refused_401(
        httpx.get(f"{asgi_server}/me", headers=bearer(clerk_token(issuer="https://evil.example"))),
        "token-invalid-issuer",
    )
    r = httpx.get(f"{asgi_server}/down/me", headers=bearer(clerk_token()))
    assert r.status_code == 503, r.text
    assert r.headers["retry-after"] == "7"
    assert r.json()["reason"] == "keys-unavailable"


def test_asgi_optional(asgi_server: str, clerk_token) -> None:
    assert httpx.get(f"{asgi_server}/optional").json() == {"user_id": None, "path": "/optional"}
    r = httpx.get(f"{asgi_server}/optional", headers=bearer(clerk_token(user_id="user_opt")))
    assert r.json()["user_id"] == "user_opt"
    # A token that does not verify is refused, even where a session is optional.
    assert_refused_401(httpx.get(f"{asgi_server}/optional", headers=bearer("garbage")), "token-invalid")


def test_asgi_websocket(asgi_server: str, clerk_token) -> None:
    url = asgi_server.replace("http://", "ws://") + "/ws"
    token = clerk_token(user_id="user_ws")
    with websockets.sync.client.connect(url, additional_headers={"Cookie": f"__session={token}"}) as ws:
        assert ws.recv() == '{"user_id": "user_ws", "path": "/ws"}'
    # Closed with 1008 before it is accepted: uvicorn answers the handshake with 403.
    with pytest.raises(InvalidStatus) as refused:
        websockets.sync.client.connect(url)
    assert refused.value.response.status_code == 403


@pytest.mark.filterwarnings("ignore:Using `httpx` with `starlette.testclient`")
def test_asgi_websocket_close_code_is_1008(clerk_emulator: Emulator) -> None:
    """The close message itself, as the ASGI app sends it (uvicorn turns a close before
    accept into a 403, so its code is seen in process)."""
    from starlette.testclient import TestClient
    from starlette.websockets import WebSocketDisconnect

    from bare_app import bare
    from clerk_verifier.asgi import ClerkMiddleware

    app = ClerkMiddleware(bare, clerk_emulator.verifier())
    with TestClient(app) as c:
        with pytest.raises(WebSocketDisconnect) as closed:
            with c.websocket_connect("/ws") as s:
                s.receive_text()
        assert closed.value.code == 1008
        assert closed.value.reason == "session-token-missing"
        token = clerk_emulator.session_token(user_id="user_tc")
        with c.websocket_connect("/ws", headers={"Cookie": f"__session={token}"}) as s:
            assert '"user_tc"' in s.receive_text()


def test_same_refusal_body_in_every_adapter(
    starlette_server: str, asgi_server: str, clerk_emulator: Emulator
) -> None:
    """FastAPI's dependency, the Starlette backend and the ASGI middleware build refusals in
    one place: the same token gives the same status, headers and body."""
    from clerk_verifier import ClerkAuthError
    from clerk_verifier._responses import refusal
    from clerk_verifier.fastapi import ClerkHTTPException

    # A refusal whose message does not name the current time.
    foreign = clerk_emulator.session_token(issuer="https://evil.example")
    a = httpx.get(f"{starlette_server}/me", headers=bearer(foreign))
    b = httpx.get(f"{asgi_server}/me", headers=bearer(foreign))
    assert a.json()["reason"] == "token-invalid-issuer"
    assert (a.status_code, a.json()) == (b.status_code, b.json())
    assert a.headers["www-authenticate"] == b.headers["www-authenticate"]
    with pytest.raises(ClerkAuthError) as err:
        clerk_emulator.verifier().verify(foreign)
    exc = ClerkHTTPException(refusal(err.value, 5))
    assert (exc.status_code, exc.detail, exc.headers) == (
        401,
        a.json(),
        {"WWW-Authenticate": a.headers["www-authenticate"]},
    )


# ---- FastAPI with the plain middleware ----


def test_fastapi_app_behind_the_middleware_mounted_under_a_prefix(
    fastapi_middleware_server: str, clerk_token
) -> None:
    base = fastapi_middleware_server
    r = httpx.get(f"{base}/v1/me", headers=bearer(clerk_token(user_id="user_mw")))
    assert r.status_code == 200, r.text
    assert r.json() == {"user_id": "user_mw"}
    assert_refused_401(httpx.get(f"{base}/v1/me"), "session-token-missing")
    assert_refused_401(httpx.get(f"{base}/v1/me", headers=bearer("garbage")), "token-invalid")
    # The protected app's own documents need a token too; the outer app's routes do not.
    assert_refused_401(httpx.get(f"{base}/v1/openapi.json"), "session-token-missing")
    assert httpx.get(f"{base}/healthz").json() == {"status": "ok"}
