"""An ASGI app with no framework at all, behind clerk_verifier.asgi.ClerkMiddleware in the
tests: it answers with the session the middleware put in scope["state"]["auth"]."""

from __future__ import annotations

import json
from typing import Any


async def bare(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """An ASGI app with no framework: answers who the middleware let through."""
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    auth = scope["state"]["auth"]
    who = {"user_id": auth.user_id if auth is not None else None, "path": scope["path"]}
    if scope["type"] == "websocket":
        await receive()  # websocket.connect
        await send({"type": "websocket.accept"})
        await send({"type": "websocket.send", "text": json.dumps(who)})
        await send({"type": "websocket.close", "code": 1000})
        return
    body = json.dumps(who).encode()
    await send(
        {"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json")]}
    )
    await send({"type": "http.response.body", "body": body})
