"""The refusals every adapter answers with, built in one place: FastAPI's dependency, the
Starlette authentication backend and the plain ASGI middleware give the same status,
headers and ``{"error", "reason", "message"}`` body for the same token.

Pure Python, no framework imported.
"""

from __future__ import annotations

import json
from typing import NamedTuple

from ._native import ClerkAuthError, ClerkWebhookError

__all__ = ["Refusal", "forbidden", "refusal", "webhook_refusal", "WS_POLICY_VIOLATION"]

#: The WebSocket close code of a refused connection.
WS_POLICY_VIOLATION = 1008

_INVALID_TOKEN = 'Bearer error="invalid_token"'
_INSUFFICIENT_SCOPE = 'Bearer error="insufficient_scope"'


class Refusal(NamedTuple):
    """An HTTP answer to a request that is not let through."""

    status: int
    """401, 403 or 503."""
    body: dict[str, str]
    """``{"error", "reason", "message"}``; ``reason`` is Clerk's reason string."""
    headers: dict[str, str]
    """``WWW-Authenticate`` (401, 403) or ``Retry-After`` (503)."""

    def json_bytes(self) -> bytes:
        """The body, as JSON."""
        return json.dumps(self.body, separators=(",", ":")).encode()


def refusal(err: ClerkAuthError, retry_after: int) -> Refusal:
    """A token that did not verify (401), or no signing key to verify it with (503,
    ``Retry-After: retry_after``)."""
    if err.status == 503:
        return Refusal(
            503,
            {"error": "unavailable", "reason": err.reason, "message": err.message},
            {"Retry-After": str(retry_after)},
        )
    return Refusal(
        401,
        {"error": "unauthorized", "reason": err.reason, "message": err.message},
        {"WWW-Authenticate": _INVALID_TOKEN},
    )


def forbidden(reason: str, message: str) -> Refusal:
    """A valid session that fails a requirement (``missing-role``, ``missing-permission``,
    ...): 403."""
    return Refusal(
        403,
        {"error": "forbidden", "reason": reason, "message": message},
        {"WWW-Authenticate": _INSUFFICIENT_SCOPE},
    )


def webhook_refusal(err: ClerkWebhookError) -> Refusal:
    """A webhook delivery that does not verify: 400, or 413 for a body over the limit."""
    error = "payload_too_large" if err.status == 413 else "bad_request"
    return Refusal(err.status, {"error": error, "reason": err.reason, "message": err.message}, {})
