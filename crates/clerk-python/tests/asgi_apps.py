"""The Starlette app and the bare ASGI app the HTTP tests run under uvicorn. Configured by
environment variables: CLERK_JWKS_URL / CLERK_ISSUER (the emulator) and TEST_DOWN_JWKS_URL
(a closed port: no key can be had)."""

from __future__ import annotations

import os
from typing import Any

from starlette.applications import Starlette
from starlette.authentication import requires
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.websockets import WebSocket

from clerk_verifier import Verifier
from clerk_verifier.asgi import ClerkMiddleware
from clerk_verifier.starlette import ClerkBackend, ClerkCredentials

from bare_app import bare

down_verifier = Verifier(jwks_url=os.environ["TEST_DOWN_JWKS_URL"], issuer=os.environ["CLERK_ISSUER"])

# ---- Starlette: the authentication backend ----


async def whoami(request: Request) -> JSONResponse:
    if not request.user.is_authenticated:
        return JSONResponse({"user_id": None, "scopes": request.auth.scopes})
    assert isinstance(request.auth, ClerkCredentials)
    return JSONResponse(
        {
            "user_id": request.user.identity,
            "display_name": request.user.display_name,
            "org_id": request.auth.auth.org_id,
            "scopes": request.auth.scopes,
        }
    )


@requires("authenticated")
async def private(request: Request) -> JSONResponse:
    return JSONResponse({"user_id": request.user.identity})


@requires("role:org:admin")
async def admin(request: Request) -> JSONResponse:
    return JSONResponse({"user_id": request.user.identity})


@requires("permission:org:invoices:read")
async def invoices(request: Request) -> JSONResponse:
    return JSONResponse({"user_id": request.user.identity})


async def ws_whoami(websocket: WebSocket) -> None:
    await websocket.accept()
    await websocket.send_json({"user_id": websocket.user.identity if websocket.user.is_authenticated else None})
    await websocket.close()


starlette_app = Starlette(
    routes=[
        Route("/", whoami),
        Route("/me", whoami),
        Route("/private", private),
        Route("/admin", admin),
        Route("/invoices", invoices),
        WebSocketRoute("/ws", ws_whoami),
        Mount(
            "/down",
            Starlette(
                routes=[Route("/me", whoami)],
                middleware=[ClerkBackend(down_verifier, retry_after=7).middleware()],
            ),
        ),
    ],
    middleware=[ClerkBackend().middleware()],
)

# ---- any ASGI app: the plain middleware ----


required = ClerkMiddleware(bare)
optional = ClerkMiddleware(bare, optional=True)
down = ClerkMiddleware(bare, down_verifier, retry_after=7)


async def asgi_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """Routes by path prefix: /optional and /down to their middleware, the rest to the
    required one (the lifespan goes through it too)."""
    path = scope.get("path", "")
    if path.startswith("/optional"):
        await optional(scope, receive, send)
    elif path.startswith("/down"):
        await down(scope, receive, send)
    else:
        await required(scope, receive, send)

# ---- FastAPI with the plain middleware, as the package README writes it ----

from fastapi import FastAPI, Request as FastAPIRequest  # noqa: E402

fastapi_api = FastAPI()
fastapi_api.add_middleware(ClerkMiddleware)  # Verifier.from_env()


@fastapi_api.get("/me")
async def fastapi_me(request: FastAPIRequest) -> dict[str, Any]:
    return {"user_id": request.state.auth.user_id}


fastapi_outer = FastAPI()


@fastapi_outer.get("/healthz")
async def fastapi_healthz() -> dict[str, str]:
    return {"status": "ok"}


fastapi_outer.mount("/v1", fastapi_api)
