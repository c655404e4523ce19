"""Tests of the example apps with the package's pytest plugin: a local Clerk (the emulator
compiled into the package) and tokens minted for each test, offline.

    pytest crates/clerk-python/examples
"""

from __future__ import annotations

import json
from typing import Callable, Iterator

import pytest
from fastapi.testclient import TestClient

from clerk_verifier.testing import Emulator

pytestmark = pytest.mark.filterwarnings("ignore:Using `httpx` with `starlette.testclient`")


@pytest.fixture
def client(clerk_env: Emulator) -> Iterator[TestClient]:
    from app import app  # imported once clerk_env has set CLERK_JWKS_URL, CLERK_ISSUER, ...

    with TestClient(app) as c:
        yield c


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_me(client: TestClient, clerk_token: Callable[..., str]) -> None:
    r = client.get("/me", headers=bearer(clerk_token(user_id="user_123")))
    assert r.status_code == 200
    assert r.json()["user_id"] == "user_123"


def test_admin_needs_the_role(client: TestClient, clerk_token: Callable[..., str]) -> None:
    admin = clerk_token(org_id="org_1", org_role="org:admin")
    assert client.get("/admin", headers=bearer(admin)).status_code == 200
    assert client.get("/admin", headers=bearer(clerk_token())).status_code == 403


def test_refusals(client: TestClient, clerk_token: Callable[..., str]) -> None:
    assert client.get("/me").status_code == 401
    r = client.get("/me", headers=bearer(clerk_token(expires_in=-60)))
    assert (r.status_code, r.json()["reason"]) == (401, "token-expired")
    assert client.get("/hello").json() == {"hello": "anonymous"}


def test_starlette_app(clerk_env: Emulator, clerk_token: Callable[..., str]) -> None:
    from starlette_app import app

    with TestClient(app) as c:
        assert c.get("/me", headers=bearer(clerk_token(user_id="user_9"))).json()["user_id"] == "user_9"
        assert c.get("/me").status_code == 403  # anonymous: Starlette's `requires`
        assert c.get("/me", headers=bearer("garbage")).status_code == 401


def test_webhook_endpoint(clerk_env: Emulator) -> None:
    from webhooks_app import app, users

    body = json.dumps({"type": "user.created", "data": {"id": "user_1", "first_name": "Ada"}})
    with TestClient(app) as c:
        r = c.post("/webhooks/clerk", content=body, headers=clerk_env.sign_webhook(body))
        assert r.json() == {"received": "user.created"}
        assert users == {"user_1": "Ada"}
        forged = c.post("/webhooks/clerk", content=body.replace("Ada", "Eve"), headers=clerk_env.sign_webhook(body))
        assert forged.status_code == 400
        assert forged.json()["reason"] == "signature-mismatch"
        assert users == {"user_1": "Ada"}
