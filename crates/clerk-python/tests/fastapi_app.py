"""The FastAPI app the HTTP tests run under uvicorn. Configured by environment variables:
CLERK_JWKS_URL / CLERK_ISSUER (the emulator), TEST_PEM (our own public key, for minted
tokens), TEST_DOWN_JWKS_URL (a closed port: no key can be had) and TEST_WEBHOOK_SECRET."""

from __future__ import annotations

import os
from typing import Optional

from fastapi import Depends, FastAPI, Request, Security

from clerk_verifier import Auth, Verifier, Webhook, WebhookEvent
from clerk_verifier.fastapi import ClerkAuth, ClerkWebhook

clerk = ClerkAuth()  # Verifier.from_env()
pem = ClerkAuth(Verifier(jwt_key=os.environ["TEST_PEM"], issuer=os.environ["TEST_ISSUER"]))
down = ClerkAuth(
    Verifier(jwks_url=os.environ["TEST_DOWN_JWKS_URL"], issuer=os.environ["TEST_ISSUER"]),
    retry_after=7,
)

webhook = ClerkWebhook(Webhook(os.environ["TEST_WEBHOOK_SECRET"], max_body_bytes=64 * 1024))

app = FastAPI()
ClerkAuth.install(app)


@app.get("/me")
async def me(auth: Auth = Depends(clerk)) -> dict[str, object]:
    return {"user_id": auth.user_id, "session_id": auth.session_id}


@app.get("/maybe")
async def maybe(auth: Optional[Auth] = Depends(clerk.optional)) -> dict[str, object]:
    return {"user_id": auth.user_id if auth else None}


@app.get("/state")
async def state(request: Request, _: Auth = Depends(clerk)) -> dict[str, object]:
    return {"user_id": request.state.auth.user_id}


@app.get("/admin")
async def admin(auth: Auth = Depends(clerk.require(role="org:admin"))) -> dict[str, object]:
    return {"user_id": auth.user_id}


@app.get("/pem/me")
def pem_me(auth: Auth = Depends(pem)) -> dict[str, object]:
    return {"user_id": auth.user_id, "org_id": auth.org_id}


@app.get("/pem/admin")
async def pem_admin(auth: Auth = Depends(pem.require(role="org:admin"))) -> dict[str, object]:
    return {"org_role": auth.org_role}


@app.get("/pem/invoices")
async def pem_invoices(
    auth: Auth = Security(pem, scopes=["permission:org:invoices:read"]),
) -> dict[str, object]:
    return {"org_permissions": auth.org_permissions}


@app.get("/down/me")
async def down_me(auth: Auth = Depends(down)) -> dict[str, object]:
    return {"user_id": auth.user_id}


@app.post("/webhooks/clerk")
async def clerk_webhook(event: WebhookEvent = Depends(webhook)) -> dict[str, object]:
    return {"type": event.type, "kind": event.kind, "object_id": event.object_id}
