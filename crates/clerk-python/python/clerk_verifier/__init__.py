"""Verify Clerk session tokens with the Rust ``clerk-auth`` verifier.

``Verifier(...)`` takes the options of ``clerk_auth::VerifierBuilder`` as keywords;
``Verifier.from_env()`` reads the same ``CLERK_*`` variables. ``verify`` and
``verify_request`` are synchronous: a cached verification takes microseconds, and a key
fetch (rare) waits with the GIL released. In ``async def`` code use ``verify_async`` /
``verify_request_async``: they never block the event loop (a key fetch is awaited from a
worker thread).
"""

from __future__ import annotations

from typing import Any, Iterable, Mapping, Union

from . import _native
from ._native import Auth, ClerkAuthError, MachineAuth, Pending

__all__ = ["Auth", "ClerkAuthError", "MachineAuth", "Pending", "Verifier"]

Headers = Union[Mapping[str, str], Iterable["tuple[str, str]"]]


async def _finish(result: Any) -> Any:
    """Waits for a ``Pending`` from a worker thread; anything else is returned as is."""
    if not isinstance(result, Pending):
        return result
    try:
        import anyio.to_thread
    except ImportError:  # no anyio: plain asyncio
        import asyncio

        return await asyncio.to_thread(result.wait)
    return await anyio.to_thread.run_sync(result.wait)


class Verifier(_native.Verifier):
    """A session token verifier (thread-safe; build one per process and share it)."""

    async def verify_async(self, token: str) -> Auth:
        """``verify`` that never blocks the event loop (asyncio or trio)."""
        return await _finish(self.start_verify(token))

    async def verify_request_async(self, headers: Headers) -> Auth:
        """``verify_request`` that never blocks the event loop."""
        return await _finish(self.start_verify_request(headers))

    async def authenticate_async(
        self, token: str, accepts_token: Union[str, list[str], None] = None
    ) -> Union[Auth, MachineAuth]:
        """``authenticate`` that never blocks the event loop."""
        return await _finish(self.start_authenticate(token, accepts_token))

    async def prefetch_async(self) -> None:
        """``prefetch`` from a worker thread (for a lifespan handler)."""
        try:
            import anyio.to_thread
        except ImportError:
            import asyncio

            await asyncio.to_thread(self.prefetch)
            return
        await anyio.to_thread.run_sync(self.prefetch)
