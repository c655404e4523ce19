"""Verify Clerk session tokens with the Rust ``clerk-auth`` verifier.

``Verifier(...)`` takes the options of ``clerk_auth::VerifierBuilder`` as keywords;
``Verifier.from_env()`` reads the same ``CLERK_*`` variables. ``verify`` and
``verify_request`` are synchronous: a cached verification takes microseconds, and a key
fetch (rare) waits with the GIL released. In ``async def`` code use ``verify_async`` /
``verify_request_async``: they never block the event loop (a key fetch is awaited from a
worker thread).

``verify_webhook(headers, body)`` (or ``Webhook(secret).verify``) checks a Clerk webhook
delivery's Svix signature with ``clerk-webhooks`` and returns a ``WebhookEvent``.
"""

from __future__ import annotations

from typing import Any, Callable, Iterable, Mapping, Optional, Union, cast

from . import _native
from ._native import (
    Auth,
    ClerkAuthError,
    ClerkWebhookError,
    MachineAuth,
    Pending,
    Webhook,
    WebhookEvent,
)

__all__ = [
    "Auth",
    "ClerkAuthError",
    "ClerkWebhookError",
    "MachineAuth",
    "Pending",
    "Verifier",
    "Webhook",
    "WebhookEvent",
    "verify_webhook",
]

Headers = Union[Mapping[str, str], Iterable["tuple[str, str]"], Iterable["tuple[bytes, bytes]"]]


async def _in_thread(call: Callable[[], Any]) -> Any:
    """Runs ``call`` in a worker thread (anyio's, so asyncio and trio alike), awaiting it."""
    try:
        import anyio.to_thread
    except ImportError:  # no anyio: plain asyncio
        import asyncio

        return await asyncio.to_thread(call)
    return await anyio.to_thread.run_sync(call)


class Verifier(_native.Verifier):
    """A session token verifier (thread-safe; build one per process and share it).

    The ``*_async`` methods answer a cache hit (or any verification with a PEM key) in the
    call itself, with no coroutine of their own to await, and await a worker thread only for
    a key fetch (a ``Pending``)."""

    async def verify_async(self, token: str) -> Auth:
        """``verify`` that never blocks the event loop (asyncio or trio)."""
        result = self.start_verify(token)
        return cast(Auth, await _in_thread(result.wait) if type(result) is Pending else result)

    async def verify_request_async(self, headers: Headers) -> Auth:
        """``verify_request`` that never blocks the event loop. ``headers`` may also be an
        ASGI scope's ``scope["headers"]`` (``bytes`` pairs), read as they are."""
        result = self.start_verify_request(headers)
        return cast(Auth, await _in_thread(result.wait) if type(result) is Pending else result)

    async def authenticate_async(
        self, token: str, accepts_token: Union[str, list[str], None] = None
    ) -> Union[Auth, MachineAuth]:
        """``authenticate`` that never blocks the event loop."""
        result = self.start_authenticate(token, accepts_token)
        return cast(
            Union[Auth, MachineAuth],
            await _in_thread(result.wait) if type(result) is Pending else result,
        )

    async def prefetch_async(self) -> None:
        """``prefetch`` from a worker thread (for a lifespan handler)."""
        await _in_thread(self.prefetch)


def verify_webhook(headers: Headers, body: bytes, *, secret: Optional[str] = None) -> WebhookEvent:
    """Verifies a Clerk webhook delivery: its headers and its raw body, exactly as received
    (``await request.body()``, before any JSON parsing). ``secret`` defaults to
    ``CLERK_WEBHOOK_SIGNING_SECRET``. Raises ``ClerkWebhookError`` (``.reason``, ``.status``:
    400, or 413 for a body over 1 MiB) for a delivery that does not verify, ``ValueError`` for
    a missing or malformed secret. Build a ``Webhook`` once to verify many deliveries."""
    webhook = Webhook(secret) if secret is not None else Webhook.from_env()
    return webhook.verify(headers, body)
