"""The FastAPI apps of the Python benchmark (bench/python/run.sh): one route, `GET /protected`,
answering `{"user_id": ...}`, under each way of authenticating it. `BENCH_APP` picks one:

  noauth              no authentication at all (the baseline): a fixed user id
  noop                a dependency that does nothing (`Depends` on a function returning a fixed
                      user id): what FastAPI's dependency machinery alone costs
  ours                clerk-verifier's `Depends(ClerkAuth(...))`, verifying with the PEM key
                      (no JWKS fetch): Clerk's checks, and its verified-token cache
  ours_middleware     the same Verifier in clerk-verifier's ASGI `ClerkMiddleware`, added with
                      `app.add_middleware`; the route reads `request.state.auth` (no `Depends`:
                      FastAPI's dependency machinery is not involved)
  pyjwt               the fair hand-written baseline: `HTTPBearer()` and PyJWT's `jwt.decode`
                      with the public key parsed once at start (a JWKS fetched once and cached),
                      checking what Clerk checks that PyJWT can (exp, nbf, iat with 5 s leeway,
                      iss, azp)
  fastapi_clerk_auth  fastapi-clerk-auth 0.0.9 as its README configures it:
                      `ClerkHTTPBearer(ClerkConfig(jwks_url=...))` (PyJWT's `PyJWKClient`,
                      which caches the key set for 300 s)

Every app is `async def`, as FastAPI's guides write them. Configuration: CLERK_JWT_KEY_FILE (the
PEM public key), CLERK_ISSUER, CLERK_AZP, and for fastapi_clerk_auth CLERK_JWKS_URL.
"""

from __future__ import annotations

import os
from typing import Any

from fastapi import Depends, FastAPI, HTTPException

APP = os.environ["BENCH_APP"]
FIXED_USER = "user_2a00000000000000000000000"

app = FastAPI()

if APP == "noauth":

    @app.get("/protected")
    async def protected_noauth() -> dict[str, Any]:
        return {"user_id": FIXED_USER}

elif APP == "noop":

    async def nobody() -> str:
        return FIXED_USER

    @app.get("/protected")
    async def protected_noop(user_id: str = Depends(nobody)) -> dict[str, Any]:
        return {"user_id": user_id}

elif APP == "ours":
    from clerk_verifier import Auth, Verifier
    from clerk_verifier.fastapi import ClerkAuth

    with open(os.environ["CLERK_JWT_KEY_FILE"], encoding="ascii") as f:
        pem = f.read()
    clerk = ClerkAuth(
        Verifier(
            jwt_key=pem,
            issuer=os.environ["CLERK_ISSUER"],
            authorized_parties=[os.environ["CLERK_AZP"]],
        )
    )
    ClerkAuth.install(app)

    @app.get("/protected")
    async def protected_ours(auth: Auth = Depends(clerk)) -> dict[str, Any]:
        return {"user_id": auth.user_id}

elif APP == "ours_middleware":
    from fastapi import Request

    from clerk_verifier import Verifier
    from clerk_verifier.asgi import ClerkMiddleware

    with open(os.environ["CLERK_JWT_KEY_FILE"], encoding="ascii") as f:
        pem = f.read()
    app.add_middleware(
        ClerkMiddleware,
        verifier=Verifier(
            jwt_key=pem,
            issuer=os.environ["CLERK_ISSUER"],
            authorized_parties=[os.environ["CLERK_AZP"]],
        ),
    )

    @app.get("/protected")
    async def protected_ours_middleware(request: Request) -> dict[str, Any]:
        return {"user_id": request.state.auth.user_id}

elif APP == "pyjwt":
    import jwt
    from cryptography.hazmat.primitives.serialization import load_pem_public_key
    from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

    with open(os.environ["CLERK_JWT_KEY_FILE"], "rb") as f:
        public_key = load_pem_public_key(f.read())
    issuer = os.environ["CLERK_ISSUER"]
    azp = os.environ["CLERK_AZP"]
    bearer = HTTPBearer()

    async def current_user(
        credentials: HTTPAuthorizationCredentials = Depends(bearer),
    ) -> dict[str, Any]:
        try:
            claims: dict[str, Any] = jwt.decode(
                credentials.credentials,
                public_key,  # type: ignore[arg-type]
                algorithms=["RS256"],
                issuer=issuer,
                leeway=5,
                options={"require": ["exp", "iat", "nbf", "sub", "sid"]},
            )
        except jwt.PyJWTError as exc:
            raise HTTPException(status_code=401, detail="Invalid token") from exc
        if claims.get("azp") not in (None, azp):
            raise HTTPException(status_code=401, detail="Invalid token")
        return claims

    @app.get("/protected")
    async def protected_pyjwt(claims: dict[str, Any] = Depends(current_user)) -> dict[str, Any]:
        return {"user_id": claims["sub"]}

elif APP == "fastapi_clerk_auth":
    from fastapi_clerk_auth import (  # type: ignore[import-not-found]
        ClerkConfig,
        ClerkHTTPBearer,
        HTTPAuthorizationCredentials as ClerkCredentials,
    )

    clerk_guard = ClerkHTTPBearer(ClerkConfig(jwks_url=os.environ["CLERK_JWKS_URL"]))

    @app.get("/protected")
    async def protected_fca(
        credentials: ClerkCredentials = Depends(clerk_guard),
    ) -> dict[str, Any]:
        return {"user_id": credentials.decoded["sub"]}

else:
    raise SystemExit(
        f"BENCH_APP={APP!r}: expected noauth, noop, ours, ours_middleware, pyjwt or fastapi_clerk_auth"
    )
