"""A plain ASGI middleware over ``clerk_verifier.Verifier``, for any ASGI framework (no
Starlette needed).

    from clerk_verifier.asgi import ClerkMiddleware

    app = ClerkMiddleware(app)                   # Verifier.from_env()
    app = ClerkMiddleware(app, optional=True)    # a request without a token gets None

An HTTP request or WebSocket whose session verifies is passed on with the ``Auth`` in
``scope["state"]["auth"]`` (``request.state.auth`` in Starlette and FastAPI). Otherwise it is
refused: 401 with ``WWW-Authenticate: Bearer error="invalid_token"``, or 503 with
``Retry-After`` when no signing key can be had, with the same ``{"error", "reason",
"message"}`` JSON body as the FastAPI dependency; a WebSocket is closed with code 1008
before it is accepted (an ASGI server then answers the handshake with 403). With
``optional=True`` a request without any token is passed on with ``None``; a token that does
not verify is still refused. Other scopes (``lifespan``) pass through untouched.

Put CORS handling outside it (added after it), or browsers' preflight requests, which never
carry a token, are refused.
"""

from __future__ import annotations

from typing import Any, Awaitable, Callable, MutableMapping, Optional

from . import Auth, ClerkAuthError, Verifier
from ._responses import WS_POLICY_VIOLATION, Refusal, refusal

__all__ = ["ClerkMiddleware"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class ClerkMiddleware:
    """The middleware. ``verifier`` defaults to ``Verifier.from_env()``."""

    def __init__(
        self,
        app: ASGIApp,
        verifier: Optional[Verifier] = None,
        *,
        optional: bool = False,
        retry_after: int = 5,
    ) -> None:
        self.app = app
        self.verifier = verifier if verifier is not None else Verifier.from_env()
        self.optional = optional
        self.retry_after = retry_after

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        auth: Optional[Auth]
        try:
            auth = await self.verifier.verify_request_async(scope.get("headers", ()))
        except ClerkAuthError as err:
            if not (self.optional and err.reason == "session-token-missing"):
                await self._refuse(scope, receive, send, err)
                return
            auth = None
        # A new scope and state: nothing shared with the server or other requests changes.
        scope = dict(scope)
        scope["state"] = {**scope.get("state", {}), "auth": auth}
        await self.app(scope, receive, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send, err: ClerkAuthError) -> None:
        if scope["type"] == "websocket":
            message = await receive()  # websocket.connect
            if message["type"] == "websocket.connect":
                await send(
                    {"type": "websocket.close", "code": WS_POLICY_VIOLATION, "reason": err.reason}
                )
            return
        await _send_response(send, refusal(err, self.retry_after))


async def _send_response(send: Send, refused: Refusal) -> None:
    body = refused.json_bytes()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    headers.extend((name.lower().encode(), value.encode()) for name, value in refused.headers.items())
    await send({"type": "http.response.start", "status": refused.status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
