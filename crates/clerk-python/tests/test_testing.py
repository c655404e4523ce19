"""The testing support users get with the package: the emulator compiled in
(`clerk_verifier.testing.Emulator`) and the pytest plugin's fixtures, used from a user's test
suite run by pytest in a subprocess."""

from __future__ import annotations

import time

import pytest

from clerk_verifier import Auth, ClerkAuthError, MachineAuth
from clerk_verifier.testing import Emulator


def test_emulator_mints_session_tokens_with_claims(clerk_emulator: Emulator) -> None:
    v = clerk_emulator.verifier(authorized_parties=["http://localhost:3000"])
    auth = v.verify(
        clerk_emulator.session_token(
            user_id="user_1", session_id="sess_1", org_id="org_1", org_slug="acme",
            org_role="org:admin", org_permissions=["org:invoices:read"], expires_in=600,
            claims={"email": "ada@example.com", "fva": None},
        )
    )
    assert (auth.user_id, auth.session_id, auth.org_id, auth.org_slug) == ("user_1", "sess_1", "org_1", "acme")
    assert auth.has(role="org:admin", permission="org:invoices:read")
    assert auth.claims["email"] == "ada@example.com" and "fva" not in auth.claims
    assert auth.claims["v"] == 2 and "o" in auth.claims
    assert abs(auth.expires_at - (time.time() + 600)) < 30
    v1 = v.verify(clerk_emulator.session_token(claims_version=1, org_id="org_2", org_role="org:member"))
    assert v1.org_role == "org:member" and "v" not in v1.claims and v1.claims["org_id"] == "org_2"
    assert v.verify(clerk_emulator.session_token(features=["u:export"], plans="u:pro")).has(plan="pro")
    assert clerk_emulator.session_token(status="pending")  # refused: see the parity corpus
    with pytest.raises(ValueError):
        clerk_emulator.session_token(org_role="org:admin")  # no org_id
    with pytest.raises(ValueError):
        clerk_emulator.session_token(kid="ins_no_such_key")


def test_emulator_refusable_tokens(clerk_emulator: Emulator) -> None:
    v = clerk_emulator.verifier(authorized_parties=["http://localhost:3000"])
    for token, reason in [
        (clerk_emulator.session_token(expires_in=-60), "token-expired"),
        (clerk_emulator.session_token(bad_signature=True), "token-invalid-signature"),
        (clerk_emulator.session_token(azp="https://evil.example"), "token-invalid-authorized-parties"),
        (clerk_emulator.session_token(issuer="https://evil.example"), "token-invalid-issuer"),
        (clerk_emulator.session_token(nbf=int(time.time()) + 3600), "token-not-active-yet"),
        (clerk_emulator.session_token(status="pending"), "session-pending"),
    ]:
        with pytest.raises(ClerkAuthError) as err:
            v.verify(token)
        assert err.value.reason == reason


def test_emulator_pem_and_env(clerk_emulator: Emulator) -> None:
    from clerk_verifier import Verifier

    pem = Verifier(jwt_key=clerk_emulator.public_key_pem, issuer=clerk_emulator.issuer)
    assert pem.verify(clerk_emulator.session_token()).user_id.startswith("user_")
    env = clerk_emulator.env()
    assert env["CLERK_JWKS_URL"] == clerk_emulator.jwks_url == clerk_emulator.base_url + "/.well-known/jwks.json"
    assert env["CLERK_SECRET_KEY"].startswith("sk_test_")
    assert env["CLERK_WEBHOOK_SIGNING_SECRET"].startswith("whsec_")
    assert clerk_emulator.publishable_key.startswith("pk_test_")
    assert [k["kid"] for k in clerk_emulator.jwks()["keys"]] == clerk_emulator.published_kids


def test_emulator_machine_tokens(clerk_emulator: Emulator) -> None:
    v = clerk_emulator.verifier()
    key = clerk_emulator.create_api_key("user_machine", scopes=["notes:read"])
    machine = v.authenticate(key["secret"], accepts_token="api_key")
    assert isinstance(machine, MachineAuth)
    assert (machine.token_type, machine.subject, machine.scopes) == ("api_key", "user_machine", ["notes:read"])
    clerk_emulator.revoke_api_key(key["id"])
    with pytest.raises(ClerkAuthError):
        clerk_emulator.verifier().authenticate(key["secret"], accepts_token="api_key")

    orders = clerk_emulator.create_machine("orders")
    assert orders["id"].startswith("mch_") and orders["secret_key"].startswith("ak_")
    for jwt in (False, True):
        m2m = clerk_emulator.create_m2m_token(orders["id"], jwt=jwt)
        machine = v.authenticate(m2m["token"], accepts_token=["m2m_token"])
        assert isinstance(machine, MachineAuth)
        assert (machine.token_type, machine.subject) == ("m2m_token", orders["id"])
    oauth = clerk_emulator.create_oauth_access_token("user_oauth", scopes=["read"], jwt=True)
    machine = v.authenticate(oauth["token"], accepts_token="any")
    assert isinstance(machine, MachineAuth) and machine.subject == "user_oauth"
    assert isinstance(v.authenticate(clerk_emulator.session_token(), "any"), Auth)


def test_emulator_fault_arguments_are_checked(fresh_clerk: Emulator) -> None:
    for bad in [("status", None), ("delay", -1.0), ("teapot", None), ("hang", 1.0)]:
        with pytest.raises(ValueError):
            fresh_clerk.set_fault(*bad)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        fresh_clerk.set_fault(None, endpoint="nowhere")  # type: ignore[arg-type]
    fresh_clerk.set_fault("status", 429, endpoint="machine-verify")
    key = fresh_clerk.create_api_key("user_1")
    with pytest.raises(ClerkAuthError) as err:
        fresh_clerk.verifier().authenticate(key["secret"], accepts_token="api_key")
    assert err.value.status == 503
    assert fresh_clerk.machine_verify_requests >= 1
    fresh_clerk.reset_counters()
    assert fresh_clerk.machine_verify_requests == 0


def test_emulator_close() -> None:
    with Emulator() as clerk:
        url = clerk.jwks_url
        assert clerk.verifier().verify(clerk.session_token())
    with pytest.raises(RuntimeError):
        clerk.set_fault(None)
    clerk.close()  # idempotent
    with pytest.raises(ClerkAuthError) as err:
        Emulator.verifier(clerk).verify(clerk.session_token())
    assert err.value.reason == "keys-unavailable"
    assert url.startswith("http://127.0.0.1:")


USER_APP = '''
from typing import Optional
from fastapi import Depends, FastAPI
from clerk_verifier import Auth
from clerk_verifier.fastapi import ClerkAuth

clerk = ClerkAuth()  # Verifier.from_env(), at import
app = FastAPI()
ClerkAuth.install(app)

@app.get("/me")
async def me(auth: Auth = Depends(clerk)) -> dict:
    return {"user_id": auth.user_id}

@app.get("/admin")
async def admin(auth: Auth = Depends(clerk.require(role="org:admin"))) -> dict:
    return {"admin": auth.user_id}
'''

USER_TESTS = '''
import pytest
from fastapi.testclient import TestClient

pytestmark = pytest.mark.filterwarnings("ignore:Using `httpx` with `starlette.testclient`")

@pytest.fixture
def client(clerk_env):
    from user_app import app   # built once the CLERK_* variables are set
    with TestClient(app) as c:
        yield c

def test_me(client, clerk_token):
    r = client.get("/me", headers={"Authorization": "Bearer " + clerk_token(user_id="user_42")})
    assert r.json() == {"user_id": "user_42"}

def test_admin(client, clerk_token):
    admin = clerk_token(org_id="org_1", org_role="org:admin")
    assert client.get("/admin", headers={"Authorization": "Bearer " + admin}).status_code == 200
    assert client.get("/admin", headers={"Authorization": "Bearer " + clerk_token()}).status_code == 403

def test_refused(client, clerk_token):
    assert client.get("/me").status_code == 401
    expired = clerk_token(expires_in=-60)
    assert client.get("/me", headers={"Authorization": "Bearer " + expired}).json()["reason"] == "token-expired"

def test_outage(client, clerk_emulator, clerk_token):
    clerk_emulator.set_fault("status", 500)
    try:
        # The app's keys were fetched by the first test: the last good keys keep serving.
        assert client.get("/me", headers={"Authorization": "Bearer " + clerk_token()}).status_code == 200
    finally:
        clerk_emulator.set_fault(None)
'''


def test_plugin_fixtures_in_a_users_suite(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(user_app=USER_APP, test_user=USER_TESTS)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=4)


def test_plugin_ini_option_sets_the_environment_before_import(pytester: pytest.Pytester) -> None:
    """With `clerk_emulator = true`, an app imported at the top of a test module (building
    its verifier from the environment at import) verifies the emulator's tokens."""
    pytester.makeini("[pytest]\nclerk_emulator = true\n")
    pytester.makepyfile(
        user_app=USER_APP,
        test_user='''
import os
import pytest
from fastapi.testclient import TestClient
from user_app import app

pytestmark = pytest.mark.filterwarnings("ignore:Using `httpx` with `starlette.testclient`")

def test_me(clerk_env, clerk_emulator, clerk_token):
    assert clerk_env is clerk_emulator
    assert os.environ["CLERK_JWKS_URL"] == clerk_emulator.jwks_url
    with TestClient(app) as c:
        token = clerk_token(user_id="user_7")
        assert c.get("/me", headers={"Authorization": "Bearer " + token}).json() == {"user_id": "user_7"}
''',
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)


def test_plugin_is_idle_unless_asked(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    """Installed, the plugin starts nothing and sets no variable for a suite that does not
    use it."""
    import os

    for name in [name for name in os.environ if name.startswith("CLERK_")]:
        monkeypatch.delenv(name)
    pytester.makepyfile(
        test_other='''
import os
def test_no_clerk_variables():
    assert not [name for name in os.environ if name.startswith("CLERK_")]
'''
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
