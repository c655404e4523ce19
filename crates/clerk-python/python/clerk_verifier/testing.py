"""A local Clerk for tests: ``Emulator``, the workspace's ``clerk-emulator`` compiled into
this package, served on a loopback port by the package's own runtime.

    from clerk_verifier.testing import Emulator

    with Emulator() as clerk:
        token = clerk.session_token(user_id="user_1", org_id="org_1", org_role="org:admin")
        auth = clerk.verifier().verify(token)

It has its own signing key (generated at start), issuer, secret key and webhook secret;
it mints session tokens with any claims, creates API keys, machines, M2M and OAuth tokens
(verified by its Backend API routes), rotates keys and makes its endpoints fail on demand.
A verifier trusts it only when configured with its JWKS URL (``env()`` or ``verifier()``),
as for any Clerk instance. The pytest plugin ``clerk_verifier.pytest_plugin`` (registered
with pytest when the package is installed) gives it as fixtures.
"""

from __future__ import annotations

from typing import Any

from . import Verifier

try:
    from ._native import Emulator as _NativeEmulator
except ImportError as err:  # built with --no-default-features
    raise ImportError(
        "clerk_verifier was built without its `testing` feature: no emulator in this build"
    ) from err

__all__ = ["Emulator"]


class Emulator(_NativeEmulator):
    """A running local Clerk instance (see the module's documentation)."""

    def verifier_options(self) -> dict[str, Any]:
        """The ``Verifier`` keywords for this instance: its JWKS URL and issuer, and its
        Backend API URL and secret key (for machine tokens)."""
        return {
            "jwks_url": self.jwks_url,
            "issuer": self.issuer,
            "api_url": self.api_url,
            "secret_key": self.secret_key,
        }

    def verifier(self, **options: Any) -> Verifier:
        """A ``Verifier`` of this instance's tokens; ``options`` add to or override
        ``verifier_options()`` (e.g. ``authorized_parties=[...]``)."""
        return Verifier(**{**self.verifier_options(), **options})
