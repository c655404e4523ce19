"""The key cache seen from Python, against the emulator compiled into the package: key
rotation, a JWKS outage, and key fetches that leave asyncio's and trio's event loops free."""

from __future__ import annotations

import time

import anyio
import pytest

from clerk_verifier import Auth, ClerkAuthError, Pending, Verifier
from clerk_verifier.testing import Emulator


def refusal(v: Verifier, token: str) -> tuple[str, int]:
    with pytest.raises(ClerkAuthError) as err:
        v.verify(token)
    return err.value.reason, err.value.status


def quick(clerk: Emulator, **options: object) -> Verifier:
    """A verifier of the emulator whose unknown-kid refetches may come 200 ms apart."""
    return clerk.verifier(
        background_refresh=False, jwks_unknown_kid_interval_ms=200, jwks_timeout_ms=500, **options
    )


def test_rotation_new_kid_refetches_once_and_old_tokens_follow_the_jwks(fresh_clerk: Emulator) -> None:
    v = quick(fresh_clerk)
    old_kid = fresh_clerk.current_kid
    old_token = fresh_clerk.session_token(expires_in=3600)
    assert v.verify(old_token).user_id
    assert fresh_clerk.jwks_requests == 1

    time.sleep(0.25)
    new_kid = fresh_clerk.rotate()
    assert new_kid != old_kid and fresh_clerk.published_kids == [old_kid, new_kid]
    new_token = fresh_clerk.session_token(expires_in=3600)
    assert v.verify(new_token).user_id  # an unknown kid: one refetch brings it
    assert fresh_clerk.jwks_requests == 2
    # Both keys are published: tokens of either verify, with no further fetch.
    old_fresh = fresh_clerk.session_token(kid=old_kid)
    assert v.verify(old_fresh).user_id
    assert v.verify(fresh_clerk.session_token()).user_id
    assert fresh_clerk.jwks_requests == 2

    # The old key leaves the JWKS: once the keys are refreshed, its tokens are refused, even
    # one the verified-token cache holds.
    assert fresh_clerk.retire_key(old_kid)
    v.prefetch()
    assert refusal(v, old_fresh) == ("jwk-kid-mismatch", 401)
    assert refusal(v, old_token) == ("jwk-kid-mismatch", 401)
    assert v.verify(new_token).user_id


def test_unknown_kids_cause_at_most_one_refetch_per_interval(fresh_clerk: Emulator) -> None:
    v = fresh_clerk.verifier(background_refresh=False, jwks_unknown_kid_interval_ms=2000)
    forged = [fresh_clerk.session_token(header={"kid": f"ins_made_up_{i}"}) for i in range(30)]
    assert v.verify(fresh_clerk.session_token()).user_id
    time.sleep(2.05)
    before = fresh_clerk.jwks_requests
    for token in forged:  # milliseconds in all: well within one interval
        assert refusal(v, token) == ("jwk-kid-mismatch", 401)
    assert fresh_clerk.jwks_requests - before == 1


@pytest.mark.parametrize("fault", [("status", 500), ("garbage", None), ("hang", None), ("empty-keys", None)])
def test_outage_serves_the_last_good_keys(fresh_clerk: Emulator, fault: tuple[str, object]) -> None:
    v = quick(fresh_clerk)
    assert v.verify(fresh_clerk.session_token()).user_id
    fresh_clerk.set_fault(fault[0], fault[1])  # type: ignore[arg-type]
    time.sleep(0.25)
    # A refresh fails; the keys fetched before keep verifying new tokens of the same key.
    with pytest.raises(ClerkAuthError):
        v.prefetch()
    assert v.keys_usable
    assert v.verify(fresh_clerk.session_token(user_id="user_during_outage")).user_id == "user_during_outage"
    # A kid never seen: refused as clerk-auth refuses it while it holds usable keys (401
    # jwk-kid-mismatch, not 503), whether the one refetch it allows fails or is skipped.
    fetches = fresh_clerk.jwks_requests
    for i in range(5):
        token = fresh_clerk.session_token(header={"kid": f"ins_never_seen_{i}"})
        assert refusal(v, token) == ("jwk-kid-mismatch", 401)
    assert fresh_clerk.jwks_requests - fetches <= 1


def test_cold_start_during_an_outage_is_503(fresh_clerk: Emulator) -> None:
    fresh_clerk.set_fault("status", 503)
    v = quick(fresh_clerk)
    assert refusal(v, fresh_clerk.session_token()) == ("keys-unavailable", 503)
    assert not v.keys_usable
    fresh_clerk.set_fault("hang")
    started = time.monotonic()
    assert refusal(quick(fresh_clerk), fresh_clerk.session_token()) == ("keys-unavailable", 503)
    assert time.monotonic() - started < 5  # bounded by the fetch timeout (500 ms)
    # It recovers once the JWKS answers again (after the failed fetch's retry back-off).
    fresh_clerk.set_fault(None)
    token = fresh_clerk.session_token()
    deadline = time.monotonic() + 10
    while True:
        try:
            assert v.verify(token).user_id
            break
        except ClerkAuthError as err:
            assert err.reason == "keys-unavailable" and time.monotonic() < deadline
            time.sleep(0.1)
    assert v.keys_usable


def test_a_slow_key_fetch_gives_a_pending(fresh_clerk: Emulator) -> None:
    """While the JWKS takes 300 ms, start_verify returns a Pending instead of waiting; once
    the keys are in, the next verification completes on the calling thread."""
    fresh_clerk.set_fault("delay", 0.3)
    v = quick(fresh_clerk)
    token = fresh_clerk.session_token()
    first = v.start_verify(token)
    assert isinstance(first, Pending)
    assert first.wait().user_id
    with pytest.raises(RuntimeError):
        first.wait()
    assert isinstance(v.start_verify(token), Auth)


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.mark.anyio
async def test_the_event_loop_runs_during_a_slow_key_fetch(fresh_clerk: Emulator, anyio_backend: str) -> None:
    """A ticker task keeps running while verifications wait 1 s for the JWKS (asyncio and
    trio); twenty concurrent cold verifications share one fetch."""
    fresh_clerk.set_fault("delay", 1.0)
    v = fresh_clerk.verifier(background_refresh=False)
    tokens = [fresh_clerk.session_token(user_id=f"user_{i}") for i in range(20)]
    ticks = 0
    results: dict[int, str] = {}

    async def ticker() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await anyio.sleep(0.01)

    async def verify(i: int) -> None:
        results[i] = (await v.verify_async(tokens[i])).user_id

    started = time.monotonic()
    async with anyio.create_task_group() as tasks:
        tasks.start_soon(ticker)
        async with anyio.create_task_group() as verifications:
            for i in range(len(tokens)):
                verifications.start_soon(verify, i)
        tasks.cancel_scope.cancel()
    elapsed = time.monotonic() - started

    assert results == {i: f"user_{i}" for i in range(20)}
    assert elapsed >= 0.9  # the fetch did take the emulator's delay
    assert ticks >= 10  # ... and the loop kept running meanwhile
    assert fresh_clerk.jwks_requests == 1
    # Now a cache hit: answered without a worker thread.
    assert isinstance(v.start_verify(tokens[0]), Auth)


@pytest.mark.anyio
async def test_async_outage_is_503(fresh_clerk: Emulator, anyio_backend: str) -> None:
    fresh_clerk.set_fault("status", 500)
    v = quick(fresh_clerk)
    with pytest.raises(ClerkAuthError) as err:
        await v.verify_request_async({"authorization": f"Bearer {fresh_clerk.session_token()}"})
    assert (err.value.reason, err.value.status) == ("keys-unavailable", 503)
