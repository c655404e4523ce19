"""Run an ASGI app (FastAPI, Starlette, ...) against a local Clerk: no account, no network.

    python -m clerk_verifier.dev --app-dir crates/clerk-python/examples app:app

Starts the emulator compiled into this package (``clerk_verifier.testing.Emulator``) on a
loopback port, sets its ``CLERK_*`` variables (``CLERK_JWKS_URL``, ``CLERK_ISSUER``,
``CLERK_API_URL``, ``CLERK_SECRET_KEY``, ``CLERK_WEBHOOK_SIGNING_SECRET``) so that
``Verifier.from_env()`` in the app trusts it, prints two session tokens (a member, and an
organization admin) with ``curl`` lines to try them, then serves the app with uvicorn in this
process. Stop it with Ctrl-C.

For development only: the tokens are signed by the emulator's own key, generated at start,
which no real Clerk instance trusts. A real deployment runs ``uvicorn`` itself with the real
instance's variables. Needs ``uvicorn`` (``pip install uvicorn``).
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Optional, Sequence

__all__ = ["main"]

#: How long the printed tokens are valid, in seconds.
TOKEN_LIFETIME = 3600


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m clerk_verifier.dev",
        description="Serve an ASGI app with uvicorn against a local Clerk (the emulator in "
        "this package): no account, no network.",
    )
    parser.add_argument("app", help="the app, as uvicorn takes it: MODULE:ATTRIBUTE (e.g. app:app)")
    parser.add_argument("--app-dir", default=".", help="where to import MODULE from (default: .)")
    parser.add_argument("--host", default="127.0.0.1", help="the app's address (default: 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8000, help="the app's port (default: 8000)")
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    """The command line: see the module's documentation."""
    args = _parser().parse_args(argv)
    try:
        import uvicorn
    except ImportError:
        print("clerk_verifier.dev needs uvicorn: pip install uvicorn", file=sys.stderr)
        return 2
    from .testing import Emulator

    clerk = Emulator()
    os.environ.update(clerk.env())
    member = clerk.session_token(user_id="user_dev_member", expires_in=TOKEN_LIFETIME)
    admin = clerk.session_token(
        user_id="user_dev_admin",
        org_id="org_dev",
        org_slug="dev",
        org_role="org:admin",
        org_permissions=["org:invoices:read"],
        expires_in=TOKEN_LIFETIME,
    )
    url = f"http://{'localhost' if args.host in ('127.0.0.1', '::1') else args.host}:{args.port}"
    print(
        f"Local Clerk (emulator): {clerk.base_url}, issuer {clerk.issuer}\n"
        f"  the app's CLERK_* variables point at it; no account, no network\n"
        f"Session tokens (valid {TOKEN_LIFETIME // 60} minutes):\n"
        f"  export TOKEN={member}\n"
        f"  export ADMIN_TOKEN={admin}\n"
        f"Try:\n"
        f'  curl -i {url}/me -H "Authorization: Bearer $TOKEN"\n'
        f"  curl -i {url}/me\n"
        f'  curl -i {url}/admin -H "Authorization: Bearer $TOKEN"\n'
        f'  curl -i {url}/admin -H "Authorization: Bearer $ADMIN_TOKEN"\n'
        f"  {url}/docs in a browser (Authorize: paste a token)\n",
        flush=True,
    )
    uvicorn.run(args.app, app_dir=args.app_dir, host=args.host, port=args.port)
    return 0


if __name__ == "__main__":
    sys.exit(main())
