"""A FastAPI app protected by clerk-verifier. Configure it as any clerk-auth service, e.g.
against the local emulator:

    CLERK_JWKS_URL=http://127.0.0.1:PORT/.well-known/jwks.json CLERK_ISSUER=http://127.0.0.1:PORT \
        uvicorn --app-dir crates/clerk-python/examples app:app
"""

from __future__ import annotations

from contextlib import asynccontextmanager
from typing import AsyncIterator, Optional

from fastapi import Depends, FastAPI

from clerk_verifier import Auth
from clerk_verifier.fastapi import ClerkAuth

clerk = ClerkAuth()  # Verifier.from_env(): CLERK_JWKS_URL, CLERK_SECRET_KEY, ...


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    await clerk.verifier.prefetch_async()  # fail fast when no key can be had
    yield


app = FastAPI(lifespan=lifespan)
ClerkAuth.install(app)  # {"error", "reason", "message"} bodies for 401 / 403 / 503


@app.get("/me")
async def me(auth: Auth = Depends(clerk)) -> dict[str, object]:
    return {"user_id": auth.user_id, "session_id": auth.session_id, "org_id": auth.org_id}


@app.get("/hello")
async def hello(auth: Optional[Auth] = Depends(clerk.optional)) -> dict[str, str]:
    return {"hello": auth.user_id if auth else "anonymous"}


@app.get("/admin")
async def admin(auth: Auth = Depends(clerk.require(role="org:admin"))) -> dict[str, str]:
    return {"admin": auth.user_id}
