"""Starlette glue: an ``AuthenticationBackend`` over ``clerk_verifier.Verifier``.

    from starlette.applications import Starlette
    from starlette.authentication import requires
    from clerk_verifier.starlette import ClerkBackend

    clerk = ClerkBackend()                       # Verifier.from_env()
    app = Starlette(routes=..., middleware=[clerk.middleware()])

    @requires("authenticated")                   # or "role:org:admin", "permission:org:x:read"
    async def me(request):
        return JSONResponse({"user_id": request.user.identity})

Starlette's conventions: a request without a token is anonymous (``request.user`` is an
``UnauthenticatedUser``, ``request.auth.scopes`` is empty), so ``requires`` decides what
needs a session; a verified session gives a ``ClerkUser`` and ``ClerkCredentials`` (scopes
``authenticated``, ``role:<org role>`` and ``permission:<p>`` for each organization
permission; ``request.auth.auth`` is the ``Auth``). A token that does not verify is refused by
``on_error``: 401 with ``WWW-Authenticate: Bearer error="invalid_token"``, or 503 with
``Retry-After`` when no signing key can be had, and the same ``{"error", "reason",
"message"}`` body as the FastAPI dependency (never Starlette's default plain-text 400).
``middleware()`` wires ``on_error`` in; a WebSocket refused by Starlette's middleware is
closed with code 1000, as Starlette does (``clerk_verifier.asgi.ClerkMiddleware`` closes with
1008).
"""

from __future__ import annotations

from typing import Optional

from starlette.authentication import (
    AuthCredentials,
    AuthenticationBackend,
    AuthenticationError,
    BaseUser,
)
from starlette.middleware import Middleware
from starlette.middleware.authentication import AuthenticationMiddleware
from starlette.requests import HTTPConnection
from starlette.responses import JSONResponse, PlainTextResponse, Response

from . import Auth, ClerkAuthError, Verifier
from ._responses import refusal

__all__ = ["ClerkAuthenticationError", "ClerkBackend", "ClerkCredentials", "ClerkUser"]


class ClerkUser(BaseUser):
    """``request.user`` for a verified session."""

    def __init__(self, auth: Auth) -> None:
        self.auth = auth

    @property
    def is_authenticated(self) -> bool:
        return True

    @property
    def display_name(self) -> str:
        return self.auth.user_id

    @property
    def identity(self) -> str:
        return self.auth.user_id


class ClerkCredentials(AuthCredentials):
    """``request.auth`` for a verified session: its scopes and the ``Auth``."""

    def __init__(self, auth: Auth) -> None:
        scopes = ["authenticated"]
        if auth.org_role is not None:
            scopes.append(f"role:{auth.org_role}")
        scopes.extend(f"permission:{permission}" for permission in auth.org_permissions)
        super().__init__(scopes)
        self.auth = auth


class ClerkAuthenticationError(AuthenticationError):
    """A refused token, for ``on_error``: ``.error`` is the ``ClerkAuthError``."""

    def __init__(self, error: ClerkAuthError) -> None:
        super().__init__(error.message)
        self.error = error


class ClerkBackend(AuthenticationBackend):
    """The backend. ``verifier`` defaults to ``Verifier.from_env()``; ``retry_after`` is the
    ``Retry-After`` of a 503."""

    def __init__(self, verifier: Optional[Verifier] = None, *, retry_after: int = 5) -> None:
        self.verifier = verifier if verifier is not None else Verifier.from_env()
        self.retry_after = retry_after

    async def authenticate(
        self, conn: HTTPConnection
    ) -> Optional[tuple[AuthCredentials, BaseUser]]:
        try:
            auth = await self.verifier.verify_request_async(conn.scope["headers"])
        except ClerkAuthError as err:
            if err.reason == "session-token-missing":
                return None
            raise ClerkAuthenticationError(err) from None
        return ClerkCredentials(auth), ClerkUser(auth)

    def on_error(self, conn: HTTPConnection, exc: AuthenticationError) -> Response:
        """``AuthenticationMiddleware``'s ``on_error``: 401 or 503 JSON for a refused token."""
        if not isinstance(exc, ClerkAuthenticationError):  # another backend's error
            return PlainTextResponse(str(exc), status_code=400)
        refused = refusal(exc.error, self.retry_after)
        return JSONResponse(refused.body, status_code=refused.status, headers=refused.headers)

    def middleware(self) -> Middleware:
        """``AuthenticationMiddleware`` with this backend and its ``on_error``."""
        return Middleware(AuthenticationMiddleware, backend=self, on_error=self.on_error)
