"""A FastAPI service behind clerk-gateway that reads the identity headers.

The proxy (one of the snippets in gateway/deploy/) asks the gateway about every request and
replaces whatever X-Clerk-* headers the client sent with the gateway's answer, so this service
only reads them. That holds only if nothing but the proxy can reach it: listen on loopback or
a private network. (To verify instead of trust, see fastapi_identity.py.)

    uvicorn fastapi_headers:app --host 127.0.0.1 --port 9000
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Annotated

from fastapi import Depends, FastAPI, HTTPException, Request


@dataclass(frozen=True)
class Identity:
    """Who the request acts for, as the gateway said. Every field is always sent, empty
    when it does not apply (an API key has no session; a session has no scopes)."""

    token_type: str  # session_token, api_key, m2m_token or oauth_token
    user_id: str
    session_id: str
    org_id: str
    org_slug: str
    org_role: str
    org_permissions: list[str]
    machine_id: str
    scopes: list[str]


def identity(request: Request) -> Identity | None:
    """The identity of the request, or None when the gateway let it through anonymously (a
    public rule, or `optional=true`)."""
    headers = request.headers
    token_type = headers.get("x-clerk-token-type", "")
    if not token_type:
        return None
    return Identity(
        token_type=token_type,
        user_id=headers.get("x-clerk-user-id", ""),
        session_id=headers.get("x-clerk-session-id", ""),
        org_id=headers.get("x-clerk-org-id", ""),
        org_slug=headers.get("x-clerk-org-slug", ""),
        org_role=headers.get("x-clerk-org-role", ""),
        org_permissions=[p for p in headers.get("x-clerk-org-permissions", "").split(",") if p],
        machine_id=headers.get("x-clerk-machine-id", ""),
        scopes=headers.get("x-clerk-scopes", "").split(),
    )


def signed_in(who: Annotated[Identity | None, Depends(identity)]) -> Identity:
    """Depends on a credential (the proxy refused requests without one already, unless a
    rule made the route public)."""
    if who is None:
        raise HTTPException(status_code=401, detail="sign in first")
    return who


def permission(name: str):
    """Depends on a permission in the active organization. (The gateway can check it
    before the request arrives: `permission=` on the auth URL, or a rule.)"""

    def check(who: Annotated[Identity, Depends(signed_in)]) -> Identity:
        if name not in who.org_permissions:
            raise HTTPException(status_code=403, detail=f"missing permission {name}")
        return who

    return check


app = FastAPI(title="notes behind clerk-gateway")


@app.get("/whoami")
def whoami(who: Annotated[Identity | None, Depends(identity)]) -> dict:
    return {"identity": asdict(who) if who else None}


@app.get("/notes")
def list_notes(who: Annotated[Identity, Depends(signed_in)]) -> dict:
    return {"owner": who.user_id or who.machine_id, "org": who.org_slug, "notes": []}


@app.delete("/notes/{note_id}")
def delete_note(
    note_id: int, who: Annotated[Identity, Depends(permission("org:notes:write"))]
) -> dict:
    return {"deleted": note_id, "by": who.user_id}
