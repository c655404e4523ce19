"""A FastAPI endpoint for Clerk's webhooks, verified with clerk-webhooks (Svix signatures).
The signing secret comes from CLERK_WEBHOOK_SIGNING_SECRET (whsec_..., from the dashboard):

    uvicorn --app-dir crates/clerk-python/examples webhooks_app:app
"""

from __future__ import annotations

from fastapi import Depends, FastAPI

from clerk_verifier import WebhookEvent
from clerk_verifier.fastapi import ClerkAuth, ClerkWebhook

clerk_webhook = ClerkWebhook()  # Webhook.from_env()
app = FastAPI()
ClerkAuth.install(app)  # {"error", "reason", "message"} bodies for refused deliveries
users: dict[str, str] = {}  # user id -> first name, kept up to date by the events


@app.post("/webhooks/clerk")
async def clerk_events(event: WebhookEvent = Depends(clerk_webhook)) -> dict[str, str]:
    if event.kind == "user" and event.object_id is not None:
        users[event.object_id] = str(event.data.get("first_name") or "")
    elif event.type == "user.deleted" and event.object_id is not None:
        users.pop(event.object_id, None)
    return {"received": event.type}
