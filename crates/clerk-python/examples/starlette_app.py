"""A Starlette app protected by clerk-verifier's authentication backend, configured like the
FastAPI example (CLERK_JWKS_URL / CLERK_ISSUER, or CLERK_SECRET_KEY for a real instance):

    uvicorn --app-dir crates/clerk-python/examples starlette_app:app
"""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.authentication import requires
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from clerk_verifier.starlette import ClerkBackend, ClerkCredentials

clerk = ClerkBackend()  # Verifier.from_env()


async def hello(request: Request) -> JSONResponse:
    # Anonymous without a token: request.user.is_authenticated is False.
    return JSONResponse({"hello": request.user.display_name or "anonymous"})


@requires("authenticated")
async def me(request: Request) -> JSONResponse:
    credentials: ClerkCredentials = request.auth
    return JSONResponse({"user_id": request.user.identity, "org_id": credentials.auth.org_id})


@requires("role:org:admin")
async def admin(request: Request) -> JSONResponse:
    return JSONResponse({"admin": request.user.identity})


app = Starlette(
    routes=[Route("/hello", hello), Route("/me", me), Route("/admin", admin)],
    # 401 / 503 JSON for a token that does not verify (not Starlette's plain-text 400).
    middleware=[clerk.middleware()],
)
