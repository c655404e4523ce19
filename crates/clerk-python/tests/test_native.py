"""The native API against the emulator (JWKS) and against tokens minted with our own key.
The event loop during key fetches: test_key_cache.py."""

from __future__ import annotations

import asyncio
import time

import pytest

from clerk_verifier import Auth, ClerkAuthError, MachineAuth, Pending, Verifier

from conftest import ISSUER


def test_emulator_session_token(emulator: dict[str, str]) -> None:
    v = Verifier(jwks_url=emulator["jwks_url"], issuer=emulator["issuer"])
    auth = v.verify(emulator["token"])
    assert isinstance(auth, Auth)
    assert auth.user_id.startswith("user_")
    assert auth.session_id.startswith("sess_")
    assert auth.claims["sub"] == auth.user_id
    assert auth.expires_at > time.time()
    assert auth.org_id is None and auth.org_permissions == []
    # The second verification is a cache hit.
    assert v.verify(emulator["token"]).user_id == auth.user_id
    assert v.stats()["cache_hits"] >= 1


def test_verify_request_bearer_then_cookie(emulator: dict[str, str]) -> None:
    v = Verifier(jwks_url=emulator["jwks_url"], issuer=emulator["issuer"])
    token = emulator["token"]
    assert v.verify_request({"authorization": f"Bearer {token}"}).session_id.startswith("sess_")
    assert v.verify_request([("cookie", f"a=b; __session={token}")]).user_id.startswith("user_")
    with pytest.raises(ClerkAuthError) as err:
        v.verify_request({"accept": "*/*"})
    assert (err.value.reason, err.value.status) == ("session-token-missing", 401)


def test_verify_request_reads_asgi_scope_headers_as_bytes(public_pem: str, mint) -> None:
    v = Verifier(jwt_key=public_pem, issuer=ISSUER)
    token = mint()
    # An ASGI scope's headers: lowercase bytes names, bytes values, other headers around.
    scope_headers = [
        (b"host", b"api.example.com"),
        (b"authorization", f"Bearer {token}".encode()),
        (b"user-agent", b"\xff not utf-8 \xfe"),
    ]
    assert v.verify_request(scope_headers).user_id == "user_minted"
    cookie_only = [(b"cookie", f"theme=dark; __session={token}".encode())]
    assert v.verify_request(cookie_only).session_id == "sess_minted"
    # Two Authorization headers are still refused, whatever the spelling of their names.
    doubled = [(b"authorization", f"Bearer {token}".encode()), ("Authorization", "Bearer x")]
    with pytest.raises(ClerkAuthError) as err:
        v.verify_request(doubled)
    assert err.value.reason == "multiple-authorization-headers"
    with pytest.raises(TypeError, match="str or bytes, not int"):
        v.verify_request([(b"authorization", 7)])


def test_wrong_issuer_is_refused(emulator: dict[str, str]) -> None:
    v = Verifier(jwks_url=emulator["jwks_url"], issuer="https://other.example")
    with pytest.raises(ClerkAuthError) as err:
        v.verify(emulator["token"])
    assert err.value.reason == "token-invalid-issuer"
    assert err.value.status == 401


def test_pem_key_claims_and_has(public_pem: str, mint) -> None:
    v = Verifier(jwt_key=public_pem, issuer=ISSUER)
    auth = v.verify(
        mint(
            org_id="org_1",
            org_role="org:admin",
            org_slug="acme",
            org_permissions=["org:invoices:read"],
        )
    )
    assert (auth.user_id, auth.session_id) == ("user_minted", "sess_minted")
    assert (auth.org_id, auth.org_role, auth.org_slug) == ("org_1", "org:admin", "acme")
    assert auth.org_permissions == ["org:invoices:read"]
    assert auth.has(role="org:admin")
    assert auth.has(role="org:admin", permission="org:invoices:read")
    assert not auth.has(role="org:member")
    assert not auth.has(permission="org:invoices:write")
    assert auth.unmet(role="org:admin") is None
    assert auth.unmet(role="org:member")[0] == "missing-role"
    with pytest.raises(TypeError):
        auth.has()
    with pytest.raises(ValueError):
        auth.has(reverification="sometimes")


@pytest.mark.parametrize(
    "claims, reason",
    [
        ({"exp": int(time.time()) - 3600}, "token-expired"),
        ({"nbf": int(time.time()) + 3600}, "token-not-active-yet"),
        ({"iss": "https://evil.example"}, "token-invalid-issuer"),
    ],
)
def test_pem_key_refusals(public_pem: str, mint, claims, reason) -> None:
    v = Verifier(jwt_key=public_pem, issuer=ISSUER)
    with pytest.raises(ClerkAuthError) as err:
        v.verify(mint(**claims))
    assert err.value.reason == reason
    assert err.value.status == 401
    assert str(err.value) == err.value.message


def test_forged_signature(public_pem: str, mint) -> None:
    from cryptography.hazmat.primitives.asymmetric import rsa

    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    v = Verifier(jwt_key=public_pem, issuer=ISSUER)
    with pytest.raises(ClerkAuthError) as err:
        v.verify(mint(key=other))
    assert (err.value.reason, err.value.status) == ("token-invalid-signature", 401)
    with pytest.raises(ClerkAuthError) as err:
        v.verify("not-a-jwt")
    assert err.value.status == 401


def test_authorized_parties(public_pem: str, mint) -> None:
    v = Verifier(jwt_key=public_pem, issuer=ISSUER, authorized_parties=["https://app.example"])
    assert v.verify(mint(azp="https://app.example")).user_id == "user_minted"
    with pytest.raises(ClerkAuthError) as err:
        v.verify(mint(azp="https://evil.example"))
    assert err.value.reason == "token-invalid-authorized-parties"


def test_clock_skew(public_pem: str, mint) -> None:
    token = mint(exp=int(time.time()) - 20)
    assert Verifier(jwt_key=public_pem, issuer=ISSUER, clock_skew_ms=60_000).verify(token)
    with pytest.raises(ClerkAuthError):
        Verifier(jwt_key=public_pem, issuer=ISSUER, clock_skew_ms=0).verify(token)


def test_unreachable_jwks_is_503(closed_port_url: str, mint) -> None:
    v = Verifier(jwks_url=closed_port_url, issuer=ISSUER)
    with pytest.raises(ClerkAuthError) as err:
        v.verify(mint())
    assert (err.value.reason, err.value.status) == ("keys-unavailable", 503)
    assert not v.keys_usable


def test_from_env(monkeypatch, emulator: dict[str, str]) -> None:
    for name in ("CLERK_JWT_KEY", "CLERK_SECRET_KEY", "CLERK_PUBLISHABLE_KEY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("CLERK_JWKS_URL", emulator["jwks_url"])
    monkeypatch.setenv("CLERK_ISSUER", emulator["issuer"])
    v = Verifier.from_env()
    assert isinstance(v, Verifier) and v.issuer == emulator["issuer"]
    assert v.verify(emulator["token"]).user_id.startswith("user_")
    monkeypatch.delenv("CLERK_JWKS_URL")
    with pytest.raises(ValueError):
        Verifier.from_env()


def test_secret_key_backend_jwks(emulator: dict[str, str]) -> None:
    v = Verifier(
        secret_key=emulator["secret_key"], api_url=emulator["api_url"], issuer=emulator["issuer"]
    )
    assert v.verify(emulator["token"]).user_id.startswith("user_")


def test_async_request_and_outage(closed_port_url: str, emulator: dict[str, str]) -> None:
    async def main() -> None:
        v = Verifier(jwks_url=emulator["jwks_url"], issuer=emulator["issuer"])
        auth = await v.verify_request_async({"authorization": f"Bearer {emulator['token']}"})
        assert auth.user_id.startswith("user_")
        down = Verifier(jwks_url=closed_port_url, issuer=emulator["issuer"])
        with pytest.raises(ClerkAuthError) as err:
            await down.verify_async(emulator["token"])
        assert err.value.status == 503

    asyncio.run(main())


def test_authenticate_session_token(emulator: dict[str, str]) -> None:
    v = Verifier(jwks_url=emulator["jwks_url"], issuer=emulator["issuer"])
    assert isinstance(v.authenticate(emulator["token"]), Auth)
    assert isinstance(v.authenticate(emulator["token"], accepts_token="any"), Auth)
    with pytest.raises(ClerkAuthError) as err:
        v.authenticate(emulator["token"], accepts_token="api_key")
    assert err.value.status == 401
    with pytest.raises(ValueError):
        v.authenticate(emulator["token"], accepts_token="bogus")


def test_authenticate_api_key(emulator: dict[str, str]) -> None:
    """A machine token: an API key created on the emulator's Backend API, verified there."""
    import httpx

    created = httpx.post(
        emulator["api_url"] + "/api_keys",
        json={"name": "python-test", "subject": "user_machine", "scopes": ["notes:read"]},
        headers={"Authorization": "Bearer " + emulator["secret_key"]},
        timeout=10,
    )
    assert created.status_code == 200, created.text
    secret = created.json()["secret"]
    v = Verifier(
        secret_key=emulator["secret_key"], api_url=emulator["api_url"], issuer=emulator["issuer"]
    )
    machine = v.authenticate(secret, accepts_token=["session_token", "api_key"])
    assert isinstance(machine, MachineAuth)
    assert machine.token_type == "api_key"
    assert machine.subject == "user_machine"
    assert machine.has_scope("notes:read") and not machine.has_scope("notes:write")
    # A session-only verifier refuses it.
    with pytest.raises(ClerkAuthError) as err:
        v.authenticate(secret)
    assert err.value.status == 401
    # Not accepted as a session token by the async form either; accepted with "any".
    assert asyncio.run(v.authenticate_async(secret, "any")).token_type == "api_key"
    with pytest.raises(ClerkAuthError):
        v.authenticate("ak_unknown_0000000000000000", accepts_token="api_key")


def test_fork(emulator: dict[str, str]) -> None:
    """After fork() (gunicorn --preload), a child verifies with a verifier built in the parent
    (rebuilt in the child from the same options) and with a new one, fetching keys on its own
    runtime."""
    import os
    import signal

    built_before_fork = Verifier(jwks_url=emulator["jwks_url"], issuer=emulator["issuer"])
    # The worst case: the parent is in the middle of a key fetch when it forks.
    in_flight = built_before_fork.start_verify(emulator["token"])
    pid = os.fork()
    if pid == 0:  # the child: exit status 0 only if both verifications succeed
        status = 1
        try:
            signal.alarm(20)
            assert built_before_fork.verify(emulator["token"]).user_id.startswith("user_")
            fresh = Verifier(jwks_url=emulator["jwks_url"], issuer=emulator["issuer"])
            assert asyncio.run(fresh.verify_async(emulator["token"])).user_id.startswith("user_")
            status = 0
        finally:
            os._exit(status)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    # The parent's runtime still works.
    if isinstance(in_flight, Pending):
        assert in_flight.wait().user_id.startswith("user_")
    assert built_before_fork.verify(emulator["token"]).user_id.startswith("user_")
