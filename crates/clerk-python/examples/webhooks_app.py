"""A FastAPI endpoint for Clerk's webhooks, verified with clerk-webhooks (Svix signatures).
The signing secret comes from CLERK_WEBHOOK_SIGNING_SECRET (whsec_..., from the dashboard):

    uvicorn --app-dir crates/clerk-python/examples webhooks_app:app
"""

from __future__ import annotations

from fastapi import FastAPI, HTTPException, Request

from clerk_verifier import ClerkWebhookError, Webhook

webhook = Webhook.from_env()
app = FastAPI()
users: dict[str, str] = {}  # user id -> first name, kept up to date by the events


@app.post("/webhooks/clerk")
async def clerk_webhook(request: Request) -> dict[str, str]:
    try:
        # The raw body, exactly as received: never re-serialized JSON.
        event = webhook.verify(request.headers.items(), await request.body())
    except ClerkWebhookError as err:
        raise HTTPException(err.status, {"reason": err.reason, "message": err.message}) from None
    if event.kind == "user" and event.object_id is not None:
        users[event.object_id] = str(event.data.get("first_name") or "")
    elif event.type == "user.deleted" and event.object_id is not None:
        users.pop(event.object_id, None)
    return {"received": event.type}
