"""Fixtures: the real clerk-gateway binary in --dev mode (its banner's credentials), each
FastAPI example under uvicorn, and nginx in front of it with the shipped
gateway/deploy/nginx.conf (its placeholders replaced with this run's ports)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable, Iterator

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

ROOT = Path(__file__).resolve().parents[3]
EXAMPLES = ROOT / "gateway" / "examples"
WORK = ROOT / "target" / "gateway-python" / "run"
HOST = "api.example.com"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(ready: Callable[[], bool], what: str, proc: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"{what} exited with {proc.returncode}:\n{log.read_text()}")
        try:
            if ready():
                return
        except (httpx.HTTPError, OSError):
            pass
        time.sleep(0.05)
    pytest.fail(f"{what} not ready within 30 s:\n{log.read_text()}")


def stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@pytest.fixture(scope="session")
def workdir() -> Path:
    shutil.rmtree(WORK, ignore_errors=True)
    WORK.mkdir(parents=True)
    return WORK


@pytest.fixture(scope="session")
def gateway(workdir: Path) -> Iterator[dict[str, str]]:
    """`clerk-gateway --dev` with a signing key: its address and the banner's credentials."""
    binary = os.environ.get("CLERK_GATEWAY", str(ROOT / "target" / "debug" / "clerk-gateway"))
    assert os.path.exists(binary), f"no gateway binary at {binary} (cargo build -p clerk-gateway)"
    key = workdir / "identity.pem"
    key.write_bytes(
        Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    port = free_port()
    banner, log = workdir / "gateway.banner", workdir / "gateway.log"
    env = {
        "PATH": os.environ["PATH"],
        "BIND": f"127.0.0.1:{port}",
        "GATEWAY_SIGNING_KEY": str(key),
        "RUST_LOG": "warn",
    }
    with banner.open("w") as out, log.open("w") as err:
        proc = subprocess.Popen([binary, "--dev"], stdout=out, stderr=err, env=env)
    url = f"http://127.0.0.1:{port}"
    wait_for(
        lambda: "M2M_TOKEN=" in banner.read_text()
        and httpx.get(f"{url}/readyz").status_code == 200,
        "clerk-gateway --dev",
        proc,
        log,
    )
    info = {"url": url, "addr": f"127.0.0.1:{port}"}
    for line in banner.read_text().splitlines():
        for name in ("SESSION_TOKEN", "API_KEY", "M2M_TOKEN"):
            if line.startswith(f"{name}="):
                info[name.lower()] = line.split("=", 1)[1]
    yield info
    stop(proc)


def uvicorn(module: str, workdir: Path, env: dict[str, str]) -> tuple[subprocess.Popen, str]:
    port = free_port()
    log = workdir / f"{module}.log"
    with log.open("w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", f"{module}:app", "--app-dir", str(EXAMPLES),
             "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"],
            stdout=out, stderr=subprocess.STDOUT, env={**os.environ, **env},
        )
    url = f"http://127.0.0.1:{port}"
    wait_for(lambda: httpx.get(f"{url}/openapi.json").status_code == 200, module, proc, log)
    return proc, f"127.0.0.1:{port}"


def nginx(name: str, workdir: Path, gateway: str, upstream: str) -> tuple[subprocess.Popen, str]:
    """nginx with the shipped snippet, as deploy/nginx.conf says: included in `http`."""
    binary = os.environ.get("NGINX", str(ROOT / "target" / "proxies" / "bin" / "nginx"))
    assert os.path.exists(binary), f"no nginx at {binary}: run gateway/tests/proxies/install.sh"
    port = free_port()
    snippet = (ROOT / "gateway" / "deploy" / "nginx.conf").read_text()
    for placeholder, value in [
        ("127.0.0.1:8090", gateway),
        ("127.0.0.1:9000", upstream),
        ("listen 8080;", f"listen 127.0.0.1:{port};"),
    ]:
        assert placeholder in snippet, f"deploy/nginx.conf lost its placeholder {placeholder}"
        snippet = snippet.replace(placeholder, value)
    dir = workdir / name
    dir.mkdir()
    (dir / "clerk.conf").write_text(snippet)
    (dir / "nginx.conf").write_text(
        f"master_process off;\ndaemon off;\nerror_log {dir}/error.log info;\npid {dir}/nginx.pid;\n"
        "events { worker_connections 64; }\n"
        f"http {{\n  access_log {dir}/access.log;\n"
        + "".join(f"  {t}_temp_path {dir}/{t};\n" for t in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
        + f"  include {dir}/clerk.conf;\n}}\n"
    )
    log = dir / "error.log"
    log.touch()
    proc = subprocess.Popen(
        [binary, "-p", str(dir), "-c", str(dir / "nginx.conf"), "-e", str(log)],
        stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    # Any answer from nginx itself (401: the gateway asked, no credential) means it is up.
    wait_for(lambda: httpx.get(f"{url}/").status_code == 401, "nginx", proc, log)
    return proc, url


@pytest.fixture(scope="session")
def headers_app(gateway: dict[str, str], workdir: Path) -> Iterator[dict[str, str]]:
    """fastapi_headers behind nginx and the gateway: {"proxy": url, "direct": url}."""
    app, app_addr = uvicorn("fastapi_headers", workdir, {})
    proxy, url = nginx("nginx-headers", workdir, gateway["addr"], app_addr)
    yield {"proxy": url, "direct": f"http://{app_addr}"}
    stop(proxy)
    stop(app)


@pytest.fixture(scope="session")
def identity_app(gateway: dict[str, str], workdir: Path) -> Iterator[dict[str, str]]:
    """fastapi_identity behind nginx and the gateway: {"proxy": url, "direct": url}."""
    app, app_addr = uvicorn(
        "fastapi_identity",
        workdir,
        {
            "CLERK_GATEWAY_JWKS_URL": f"{gateway['url']}/.well-known/jwks.json",
            "CLERK_GATEWAY_AUDIENCE": HOST,
        },
    )
    proxy, url = nginx("nginx-identity", workdir, gateway["addr"], app_addr)
    yield {"proxy": url, "direct": f"http://{app_addr}"}
    stop(proxy)
    stop(app)
