"""FastAPI glue: a security dependency over ``clerk_verifier.Verifier``.

    from fastapi import Depends, FastAPI
    from clerk_verifier import Auth
    from clerk_verifier.fastapi import ClerkAuth

    clerk = ClerkAuth()                      # Verifier.from_env()
    app = FastAPI()
    clerk.install(app)                       # flat JSON error bodies

    @app.get("/me")
    async def me(auth: Auth = Depends(clerk)):
        return {"user_id": auth.user_id}

* ``Depends(clerk)``: the session, or 401 (``WWW-Authenticate: Bearer error="invalid_token"``)
  for a missing or refused token; 503 with ``Retry-After`` when no signing key can be had.
* ``Depends(clerk.optional)``: ``None`` without a token; a bad token is still 401.
* ``Depends(clerk.require(role="org:admin"))`` or
  ``Security(clerk, scopes=["permission:org:invoices:read"])``: 403 when unmet.
* ``event: WebhookEvent = Depends(ClerkWebhook())``: a verified Clerk webhook delivery
  (``CLERK_WEBHOOK_SIGNING_SECRET``), read as raw bytes and no further than the body limit;
  400 (413 past the limit) with ``{"error", "reason", "message"}`` otherwise.
* ``/docs`` shows an HTTP bearer scheme (FastAPI finds it because ``ClerkAuth`` is a
  ``SecurityBase``); ``request.state.auth`` is set; ``app.dependency_overrides[clerk]`` works.
"""

from __future__ import annotations

from typing import Any, Callable, Optional

from fastapi import HTTPException
from fastapi.exceptions import WebSocketException
from fastapi.openapi.models import HTTPBearer as HTTPBearerModel
from fastapi.responses import JSONResponse
from fastapi.security import SecurityScopes
from fastapi.security.base import SecurityBase
from starlette.requests import HTTPConnection, Request

from . import Auth, ClerkAuthError, ClerkWebhookError, Verifier, Webhook, WebhookEvent
from ._responses import WS_POLICY_VIOLATION, Refusal, forbidden, refusal, webhook_refusal

__all__ = ["ClerkAuth", "ClerkHTTPException", "ClerkWebhook"]

#: ``Security(clerk, scopes=[...])``: a scope is ``<kind>:<value>`` with these kinds.
SCOPE_KINDS = ("role", "permission", "feature", "plan", "reverification")


class ClerkHTTPException(HTTPException):
    """A refusal: ``detail`` is ``{"error", "reason", "message"}``. ``ClerkAuth.install(app)``
    answers it with that object as the whole body (without it FastAPI wraps it in ``detail``)."""

    def __init__(self, refused: Refusal) -> None:
        super().__init__(
            status_code=refused.status, detail=refused.body, headers=refused.headers
        )


async def _clerk_exception_handler(request: Any, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ClerkHTTPException)
    return JSONResponse(exc.detail, status_code=exc.status_code, headers=exc.headers)


class ClerkAuth(SecurityBase):
    """The FastAPI dependency. ``verifier`` defaults to ``Verifier.from_env()``."""

    def __init__(
        self,
        verifier: Optional[Verifier] = None,
        *,
        auto_error: bool = True,
        scheme_name: str = "ClerkSession",
        description: Optional[str] = "A Clerk session token (JWT), from the Authorization "
        "header or the __session cookie.",
        retry_after: int = 5,
    ) -> None:
        self.verifier = verifier if verifier is not None else Verifier.from_env()
        self.model = HTTPBearerModel(bearerFormat="JWT", description=description)
        self.scheme_name = scheme_name
        self.auto_error = auto_error
        self.retry_after = retry_after
        self._optional: Optional[ClerkAuth] = None

    @staticmethod
    def install(app: Any) -> None:
        """Answers this package's refusals with ``{"error", "reason", "message"}`` bodies."""
        app.add_exception_handler(ClerkHTTPException, _clerk_exception_handler)

    @property
    def optional(self) -> "ClerkAuth":
        """The same dependency, but a request without a token gets ``None``."""
        if self._optional is None:
            other = ClerkAuth.__new__(ClerkAuth)
            other.__dict__.update(self.__dict__)
            other.auto_error = False
            other._optional = other
            self._optional = other
        return self._optional

    def _refuse(self, conn: HTTPConnection, err: ClerkAuthError) -> Exception:
        if conn.scope.get("type") == "websocket":
            return WebSocketException(code=WS_POLICY_VIOLATION, reason=err.reason)
        return ClerkHTTPException(refusal(err, self.retry_after))

    def _forbid(self, conn: HTTPConnection, reason: str, message: str) -> Exception:
        if conn.scope.get("type") == "websocket":
            return WebSocketException(code=WS_POLICY_VIOLATION, reason=reason)
        return ClerkHTTPException(forbidden(reason, message))

    async def authenticate(self, conn: HTTPConnection) -> Optional[Auth]:
        """The request's session (``None`` when optional and no token), or raises."""
        try:
            # The scope's raw headers, read in Rust (nothing decoded here).
            auth = await self.verifier.verify_request_async(conn.scope["headers"])
        except ClerkAuthError as err:
            if not self.auto_error and err.reason == "session-token-missing":
                return None
            raise self._refuse(conn, err) from None
        # What ``conn.state.auth = auth`` does (Starlette's ``State`` wraps this dict).
        conn.scope.setdefault("state", {})["auth"] = auth
        return auth

    def check(self, conn: HTTPConnection, auth: Auth, **conditions: Optional[str]) -> None:
        """Raises 403 unless ``auth.has(**conditions)``."""
        unmet = auth.unmet(**conditions)
        if unmet is not None:
            raise self._forbid(conn, *unmet)

    async def __call__(
        self, conn: HTTPConnection, security_scopes: SecurityScopes
    ) -> Optional[Auth]:
        auth = await self.authenticate(conn)
        if auth is not None and security_scopes.scopes:
            for scope in security_scopes.scopes:
                kind, sep, value = scope.partition(":")
                if not sep or kind not in SCOPE_KINDS:
                    raise ValueError(
                        f"scope {scope!r}: expected <kind>:<value>, kind one of {SCOPE_KINDS}"
                    )
                self.check(conn, auth, **{kind: value})
        return auth

    def require(
        self,
        *,
        role: Optional[str] = None,
        permission: Optional[str] = None,
        feature: Optional[str] = None,
        plan: Optional[str] = None,
        reverification: Optional[str] = None,
    ) -> Callable[..., Any]:
        """A dependency returning the session when it ``has()`` all of these, else 403."""
        conditions = dict(
            role=role,
            permission=permission,
            feature=feature,
            plan=plan,
            reverification=reverification,
        )
        if all(value is None for value in conditions.values()):
            raise TypeError("require() needs at least one condition")
        clerk = self

        from fastapi import Depends

        async def dependency(conn: HTTPConnection, auth: Auth = Depends(clerk)) -> Auth:
            clerk.check(conn, auth, **conditions)
            return auth

        return dependency


class ClerkWebhook:
    """A dependency giving the verified ``WebhookEvent`` of a Clerk webhook delivery.
    ``webhook`` defaults to ``Webhook.from_env()`` (``CLERK_WEBHOOK_SIGNING_SECRET``).

    The body is read as sent, and reading stops past ``webhook.max_body_bytes``: a larger
    body is refused with 413 without being read whole. A delivery that does not verify gets
    400 (with ``ClerkAuth.install(app)``, the body is ``{"error", "reason", "message"}``)."""

    def __init__(self, webhook: Optional[Webhook] = None) -> None:
        self.webhook = webhook if webhook is not None else Webhook.from_env()

    async def __call__(self, request: Request) -> WebhookEvent:
        limit = self.webhook.max_body_bytes
        chunks: list[bytes] = []
        size = 0
        async for chunk in request.stream():
            size += len(chunk)
            chunks.append(chunk)
            if size > limit:
                break  # clerk-webhooks refuses it by its length: no need for the rest
        try:
            return self.webhook.verify(request.headers.items(), b"".join(chunks))
        except ClerkWebhookError as err:
            raise ClerkHTTPException(webhook_refusal(err)) from None
