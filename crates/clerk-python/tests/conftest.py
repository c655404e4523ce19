"""Fixtures: the workspace's emulator (a local Clerk: JWKS, issuer, a sample session token),
its command line (`emulator`) and compiled into the package (`fresh_clerk`, and the package's
own pytest plugin: `clerk_emulator`, `clerk_env`, `clerk_token`); an RSA key of our own to
mint tokens with PyJWT (expired, forged, with org claims); uvicorn on a loopback port."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping

import httpx

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from clerk_verifier.testing import Emulator

ROOT = Path(__file__).resolve().parents[3]
HERE = Path(__file__).resolve().parent

pytest_plugins = ["pytester"]

#: Variables that would make `Verifier.from_env()` verify another instance than the one a
#: test configures.
FOREIGN_VARS = ("CLERK_JWT_KEY", "CLERK_SECRET_KEY", "CLERK_PUBLISHABLE_KEY", "CLERK_API_URL")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def emulator() -> Iterator[dict[str, str]]:
    """Runs `clerk-emulator serve` and parses its banner."""
    binary = os.environ.get("CLERK_EMULATOR", str(ROOT / "target" / "debug" / "clerk-emulator"))
    if not os.path.exists(binary):
        pytest.skip(f"no emulator binary at {binary} (cargo build -p clerk-emulator --features cli)")
    proc = subprocess.Popen(
        [binary, "serve", "--bind", "127.0.0.1:0"], stdout=subprocess.PIPE, text=True
    )
    info: dict[str, str] = {}
    assert proc.stdout is not None
    lines = iter(proc.stdout.readline, "")
    for line in lines:
        if line.startswith("JWKS URL"):
            info["jwks_url"] = line.split()[2]
        elif line.startswith("Backend API URL"):
            info["api_url"] = line.split()[3]
        elif line.startswith("Issuer"):
            info["issuer"] = line.split()[1]
        elif line.startswith("Secret key"):
            info["secret_key"] = line.split()[2]
        elif line.startswith("Publishable key"):
            info["publishable_key"] = line.split()[2]
        elif line.startswith("Sample session token"):
            info["token"] = next(lines).strip()
        elif line.startswith("Serving until"):
            break
    assert {"jwks_url", "issuer", "token"} <= info.keys(), info
    yield info
    proc.terminate()
    proc.wait(timeout=10)


@pytest.fixture(scope="session")
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="session")
def public_pem(rsa_key: rsa.RSAPrivateKey) -> str:
    return (
        rsa_key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


ISSUER = "https://clerk.example.test"


@pytest.fixture(scope="session")
def mint(rsa_key: rsa.RSAPrivateKey) -> Callable[..., str]:
    """A session token signed by `rsa_key`; keyword arguments override or add claims
    (a value of None removes the claim)."""

    def mint(key: Any = None, **claims: Any) -> str:
        now = int(time.time())
        payload: dict[str, Any] = {
            "sub": "user_minted",
            "sid": "sess_minted",
            "iss": ISSUER,
            "iat": now - 5,
            "nbf": now - 5,
            "exp": now + 60,
        }
        payload.update(claims)
        payload = {k: v for k, v in payload.items() if v is not None}
        return jwt.encode(payload, key or rsa_key, algorithm="RS256", headers={"kid": "ins_test"})

    return mint


@pytest.fixture
def closed_port_url() -> str:
    """A JWKS URL on a loopback port nothing listens on."""
    return f"http://127.0.0.1:{free_port()}/.well-known/jwks.json"


@pytest.fixture
def fresh_clerk() -> Iterator[Emulator]:
    """An emulator of the test's own, for tests that rotate its keys or make it fail."""
    with Emulator() as emulator:
        yield emulator


@contextmanager
def uvicorn(app: str, env: Mapping[str, str]) -> Iterator[str]:
    """Runs `uvicorn app` (a module of this directory) on a loopback port with these extra
    variables; yields its base URL once it answers."""
    port = free_port()
    full_env = {k: v for k, v in os.environ.items() if k not in FOREIGN_VARS}
    full_env.update(env)
    proc = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", app, "--host", "127.0.0.1", "--port", str(port),
         "--log-level", "warning"],
        cwd=HERE,
        env=full_env,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                httpx.get(f"{base}/", timeout=1)
                break
            except httpx.TransportError:
                assert proc.poll() is None, "uvicorn exited"
                time.sleep(0.1)
        yield base
    finally:
        proc.terminate()
        proc.wait(timeout=10)
