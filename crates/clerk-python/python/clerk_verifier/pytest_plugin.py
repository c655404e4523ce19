"""pytest fixtures running a local Clerk (``clerk_verifier.testing.Emulator``), registered
with pytest (entry point ``pytest11``) when the package is installed. Nothing starts unless
a test asks for a fixture, or the ``clerk_emulator`` ini option is on.

* ``clerk_emulator``: the ``Emulator`` of the test session.
* ``clerk_env``: the same, with its ``CLERK_*`` variables (``Emulator.env()``) set in
  ``os.environ`` for the rest of the session, so that an app built with
  ``Verifier.from_env()`` / ``ClerkAuth()`` verifies its tokens. Build (import) the app after
  it is set, e.g. in a fixture that uses it; or set ``clerk_emulator = true`` in the pytest
  ini file, which starts the emulator and sets the variables before test modules are
  imported.
* ``clerk_token``: ``clerk_emulator.session_token``, a function minting session tokens
  (``clerk_token(user_id="user_1", org_id="org_1", org_role="org:admin")``).
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Callable, Iterator, Optional

import pytest

if TYPE_CHECKING:
    from .testing import Emulator


def _start() -> "Emulator":
    # Imported here: a build without the `testing` feature must not break pytest itself.
    from .testing import Emulator

    return Emulator()


_configured: "Optional[Emulator]" = None
_saved_env: dict[str, Optional[str]] = {}

#: Variables that would take precedence over the emulator's JWKS URL, or mix in another
#: instance: unset while the emulator's variables are.
_CONFLICTING = ("CLERK_JWT_KEY", "CLERK_PUBLISHABLE_KEY", "CLERK_AUTHORIZED_PARTIES")


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addini(
        "clerk_emulator",
        "start a local Clerk before collection and set its CLERK_* variables",
        type="bool",
        default=False,
    )


def _set_env(emulator: "Emulator") -> None:
    for name in (*_CONFLICTING, *emulator.env()):
        _saved_env.setdefault(name, os.environ.get(name))
    for name in _CONFLICTING:
        os.environ.pop(name, None)
    os.environ.update(emulator.env())


def _restore_env() -> None:
    for name, value in _saved_env.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
    _saved_env.clear()


def pytest_configure(config: pytest.Config) -> None:
    global _configured
    if config.getini("clerk_emulator"):
        _configured = _start()
        _set_env(_configured)


def pytest_unconfigure(config: pytest.Config) -> None:
    global _configured
    if _configured is not None:
        _configured.close()
        _configured = None
    _restore_env()


@pytest.fixture(scope="session")
def clerk_emulator() -> "Iterator[Emulator]":
    """The test session's local Clerk instance."""
    if _configured is not None:
        yield _configured
        return
    with _start() as emulator:
        yield emulator


@pytest.fixture(scope="session")
def clerk_env(clerk_emulator: "Emulator") -> "Iterator[Emulator]":
    """``clerk_emulator``, with its ``CLERK_*`` variables set for the rest of the session."""
    if clerk_emulator is _configured:
        yield clerk_emulator
        return
    _set_env(clerk_emulator)
    try:
        yield clerk_emulator
    finally:
        _restore_env()


@pytest.fixture
def clerk_token(clerk_emulator: "Emulator") -> Callable[..., str]:
    """Mints session tokens of ``clerk_emulator`` (``Emulator.session_token``)."""
    return clerk_emulator.session_token
