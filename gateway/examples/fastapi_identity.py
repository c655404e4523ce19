"""A FastAPI service behind clerk-gateway that verifies the signed identity.

With GATEWAY_SIGNING_KEY set, the gateway adds X-Clerk-Identity to every request it allows: a
JWT of at most 60 s (EdDSA or ES256) with the identity, `iss` = GATEWAY_ISSUER
(`clerk-gateway` by default) and `aud` = the host the client asked for. This service verifies
it against the gateway's /.well-known/jwks.json with PyJWT, so a request that reaches it
without going through the proxy, or with headers of its own, is refused.

    CLERK_GATEWAY_JWKS_URL=http://127.0.0.1:8090/.well-known/jwks.json \\
    CLERK_GATEWAY_AUDIENCE=api.example.com \\
        uvicorn fastapi_identity:app --host 0.0.0.0 --port 9000
"""

from __future__ import annotations

import os
from typing import Annotated, Any

import jwt
from fastapi import Depends, FastAPI, Header, HTTPException

JWKS_URL = os.environ["CLERK_GATEWAY_JWKS_URL"]
# The host clients use (without a port), as the proxy tells the gateway.
AUDIENCE = os.environ["CLERK_GATEWAY_AUDIENCE"]
ISSUER = os.environ.get("CLERK_GATEWAY_ISSUER", "clerk-gateway")

# Keys are fetched once and kept; a new `kid` (the gateway's key rotated) fetches again.
jwks = jwt.PyJWKClient(JWKS_URL, cache_keys=True, lifespan=300, timeout=5)


def identity(x_clerk_identity: Annotated[str, Header()] = "") -> dict[str, Any]:
    """The verified claims: token_type, user_id, session_id, org_id, org_slug, org_role,
    org_permissions (a list), machine_id, scopes (a list), and `sub`."""
    if not x_clerk_identity:
        raise HTTPException(status_code=401, detail="no signed identity")
    try:
        key = jwks.get_signing_key_from_jwt(x_clerk_identity)
        return jwt.decode(
            x_clerk_identity,
            key,
            algorithms=["EdDSA", "ES256"],
            audience=AUDIENCE,
            issuer=ISSUER,
            leeway=5,
            options={"require": ["exp", "iat", "iss", "aud", "sub"]},
        )
    except jwt.PyJWTError as err:
        raise HTTPException(status_code=401, detail=f"invalid signed identity: {err}") from None


app = FastAPI(title="notes behind clerk-gateway, zero trust")


@app.get("/notes")
def list_notes(claims: Annotated[dict[str, Any], Depends(identity)]) -> dict:
    return {
        "owner": claims["user_id"] or claims["machine_id"],
        "org": claims["org_slug"],
        "token_type": claims["token_type"],
        "notes": [],
    }
