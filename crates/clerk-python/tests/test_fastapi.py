"""The FastAPI dependency under a real uvicorn on a loopback port, called over HTTP."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Callable, Iterator

import httpx
from fastapi import Depends, WebSocket
import pytest

from conftest import ISSUER, free_port, uvicorn
from test_webhooks import SECRET as WEBHOOK_SECRET
from test_webhooks import delivery

HERE = Path(__file__).resolve().parent
INVALID = 'Bearer error="invalid_token"'


@pytest.fixture(scope="module")
def server(emulator: dict[str, str], public_pem: str) -> Iterator[str]:
    env = dict(
        CLERK_JWKS_URL=emulator["jwks_url"],
        CLERK_ISSUER=emulator["issuer"],
        TEST_PEM=public_pem,
        TEST_ISSUER=ISSUER,
        TEST_DOWN_JWKS_URL=f"http://127.0.0.1:{free_port()}/.well-known/jwks.json",
        TEST_WEBHOOK_SECRET=WEBHOOK_SECRET,
    )
    with uvicorn("fastapi_app:app", env) as base:
        yield base


@pytest.fixture
def client(server: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server, timeout=10) as c:
        yield c


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_200_bearer_and_cookie(client: httpx.Client, emulator: dict[str, str]) -> None:
    r = client.get("/me", headers=bearer(emulator["token"]))
    assert r.status_code == 200, r.text
    assert r.json()["user_id"].startswith("user_")
    r = client.get("/me", headers={"Cookie": f"theme=dark; __session={emulator['token']}"})
    assert r.status_code == 200, r.text
    assert client.get("/state", headers=bearer(emulator["token"])).json()["user_id"].startswith("user_")


def test_401_missing(client: httpx.Client) -> None:
    r = client.get("/me")
    assert r.status_code == 401
    assert r.headers["www-authenticate"] == INVALID
    assert r.json()["error"] == "unauthorized"
    assert r.json()["reason"] == "session-token-missing"
    assert r.json()["message"]


def test_401_expired_and_forged(client: httpx.Client, mint: Callable[..., str]) -> None:
    r = client.get("/pem/me", headers=bearer(mint(exp=int(time.time()) - 3600)))
    assert r.status_code == 401
    assert r.headers["www-authenticate"] == INVALID
    assert r.json()["reason"] == "token-expired"

    from cryptography.hazmat.primitives.asymmetric import rsa

    forged = mint(key=rsa.generate_private_key(public_exponent=65537, key_size=2048))
    r = client.get("/pem/me", headers=bearer(forged))
    assert (r.status_code, r.json()["reason"]) == (401, "token-invalid-signature")
    # A token of another instance (the emulator's) against the emulator-keyed route: the
    # minted token is not signed by any of the emulator's keys.
    r = client.get("/me", headers=bearer(mint()))
    assert r.status_code == 401
    assert r.headers["www-authenticate"] == INVALID


def test_200_sync_route_with_pem(client: httpx.Client, mint: Callable[..., str]) -> None:
    r = client.get("/pem/me", headers=bearer(mint(org_id="org_1")))
    assert r.status_code == 200, r.text
    assert r.json() == {"user_id": "user_minted", "org_id": "org_1"}


def test_optional(client: httpx.Client, emulator: dict[str, str]) -> None:
    assert client.get("/maybe").json() == {"user_id": None}
    assert client.get("/maybe", headers=bearer(emulator["token"])).json()["user_id"].startswith("user_")
    r = client.get("/maybe", headers=bearer("garbage"))
    assert r.status_code == 401
    assert r.headers["www-authenticate"] == INVALID


def test_403_requirements(client: httpx.Client, emulator: dict[str, str], mint) -> None:
    r = client.get("/admin", headers=bearer(emulator["token"]))
    assert r.status_code == 403
    assert r.json()["error"] == "forbidden"
    assert r.json()["reason"] == "missing-role"
    assert r.headers["www-authenticate"] == 'Bearer error="insufficient_scope"'
    assert client.get("/admin").status_code == 401

    admin = mint(org_id="org_1", org_role="org:admin", org_permissions=["org:invoices:read"])
    member = mint(org_id="org_1", org_role="org:member", org_permissions=[])
    assert client.get("/pem/admin", headers=bearer(admin)).json() == {"org_role": "org:admin"}
    assert client.get("/pem/admin", headers=bearer(member)).status_code == 403
    r = client.get("/pem/invoices", headers=bearer(admin))
    assert r.status_code == 200, r.text
    r = client.get("/pem/invoices", headers=bearer(member))
    assert (r.status_code, r.json()["reason"]) == (403, "missing-permission")


def test_503_when_jwks_unreachable(client: httpx.Client, emulator: dict[str, str]) -> None:
    r = client.get("/down/me", headers=bearer(emulator["token"]))
    assert r.status_code == 503, r.text
    assert r.headers["retry-after"] == "7"
    assert r.json()["error"] == "unavailable"
    assert r.json()["reason"] == "keys-unavailable"


def test_openapi_shows_the_bearer_scheme(client: httpx.Client) -> None:
    doc = client.get("/openapi.json").json()
    scheme = doc["components"]["securitySchemes"]["ClerkSession"]
    assert scheme["type"] == "http" and scheme["scheme"] == "bearer"
    assert scheme["bearerFormat"] == "JWT"
    assert {"ClerkSession": []} in doc["paths"]["/me"]["get"]["security"]
    assert {"ClerkSession": ["permission:org:invoices:read"]} in doc["paths"]["/pem/invoices"]["get"]["security"]


# Starlette deprecates its TestClient over httpx in favour of httpx2; the app is what is tested.
@pytest.mark.filterwarnings("ignore:Using `httpx` with `starlette.testclient`")
def test_readme_example_app(monkeypatch, emulator: dict[str, str]) -> None:
    """The README's example app (examples/app.py), in process."""
    import importlib.util

    from fastapi.testclient import TestClient

    for name in ("CLERK_JWT_KEY", "CLERK_SECRET_KEY", "CLERK_PUBLISHABLE_KEY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("CLERK_JWKS_URL", emulator["jwks_url"])
    monkeypatch.setenv("CLERK_ISSUER", emulator["issuer"])
    spec = importlib.util.spec_from_file_location("example_app", HERE.parent / "examples" / "app.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    with TestClient(module.app) as c:
        assert c.get("/hello").json() == {"hello": "anonymous"}
        assert c.get("/me", headers=bearer(emulator["token"])).json()["user_id"].startswith("user_")
        assert c.get("/me").status_code == 401
        assert c.get("/admin", headers=bearer(emulator["token"])).status_code == 403


@pytest.mark.filterwarnings("ignore:Using `httpx` with `starlette.testclient`")
def test_dependency_overrides(public_pem: str, mint) -> None:
    """`app.dependency_overrides[clerk]` replaces the check, as for any FastAPI dependency."""
    from fastapi import Depends, FastAPI
    from fastapi.testclient import TestClient

    from clerk_verifier import Auth, Verifier
    from clerk_verifier.fastapi import ClerkAuth

    clerk = ClerkAuth(Verifier(jwt_key=public_pem, issuer=ISSUER))
    app = FastAPI()

    @app.get("/me")
    async def me(auth: Auth = Depends(clerk)) -> dict[str, object]:
        return {"user_id": auth.user_id}

    real = clerk.verifier.verify(mint(sub="user_override"))
    app.dependency_overrides[clerk] = lambda: real
    with TestClient(app) as c:
        assert c.get("/me").json() == {"user_id": "user_override"}


@pytest.mark.filterwarnings("ignore:Using `httpx` with `starlette.testclient`")
def test_websocket(emulator: dict[str, str]) -> None:
    """A WebSocket route: the session from the cookie; refused with close code 1008.
    (`WebSocket` is imported at module level: FastAPI resolves string annotations there.)"""
    from fastapi import FastAPI
    from fastapi.testclient import TestClient
    from starlette.websockets import WebSocketDisconnect

    from clerk_verifier import Auth, Verifier
    from clerk_verifier.fastapi import ClerkAuth

    clerk = ClerkAuth(Verifier(jwks_url=emulator["jwks_url"], issuer=emulator["issuer"]))
    app = FastAPI()

    @app.websocket("/ws")
    async def ws(websocket: WebSocket, auth: Auth = Depends(clerk)) -> None:
        await websocket.accept()
        await websocket.send_json({"user_id": auth.user_id})
        await websocket.close()

    with TestClient(app) as c:
        with c.websocket_connect("/ws", headers={"Cookie": f"__session={emulator['token']}"}) as s:
            assert s.receive_json()["user_id"].startswith("user_")
        with pytest.raises(WebSocketDisconnect) as closed:
            with c.websocket_connect("/ws") as s:
                s.receive_json()
        assert closed.value.code == 1008


def test_webhook_dependency(client: httpx.Client) -> None:
    """`Depends(ClerkWebhook(...))` over HTTP: the event, or 400 / 413 with Clerk's reason."""
    headers, body = delivery()
    r = client.post("/webhooks/clerk", content=body, headers=headers)
    assert r.status_code == 200, r.text
    assert r.json() == {"type": "user.created", "kind": "user", "object_id": "user_29w83sxmDNGwOuEthce5gg56FcC"}

    r = client.post("/webhooks/clerk", content=body.replace(b"Ada", b"Eve"), headers=headers)
    assert r.status_code == 400
    assert r.json() == {
        "error": "bad_request",
        "reason": "signature-mismatch",
        "message": "no matching signature found",
    }
    r = client.post("/webhooks/clerk", content=body, headers={"content-type": "application/json"})
    assert (r.status_code, r.json()["reason"]) == (400, "missing-headers")
    # Over the 64 KiB limit: refused by its size, without reading the rest of it.
    big_headers, big = delivery({"type": "user.created", "data": {"id": "u", "pad": "x" * 200_000}})
    r = client.post("/webhooks/clerk", content=big, headers=big_headers)
    assert r.status_code == 413
    assert r.json()["error"] == "payload_too_large" and r.json()["reason"] == "body-too-large"
