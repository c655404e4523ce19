"""The README's Python quick start, as a newcomer runs it: `python -m clerk_verifier.dev` serves
the example FastAPI app (examples/app.py) under uvicorn against the emulator in the package,
prints tokens and curl lines; those lines give what the README says they give."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading

import httpx

from conftest import FOREIGN_VARS, ROOT, free_port

EXAMPLES = ROOT / "crates" / "clerk-python" / "examples"


def test_dev_runner_serves_the_example_app_against_a_local_clerk() -> None:
    port = free_port()
    # Nothing of the caller's Clerk configuration: the runner sets everything itself.
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLERK_") and k not in FOREIGN_VARS}
    proc = subprocess.Popen(
        [sys.executable, "-m", "clerk_verifier.dev", "--app-dir", str(EXAMPLES), "--port", str(port),
         "app:app"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert proc.stdout is not None
    output: list[str] = []
    tokens: dict[str, str] = {}
    ready = threading.Event()

    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            output.append(line)
            found = re.match(r"\s*export (TOKEN|ADMIN_TOKEN)=(\S+)", line)
            if found:
                tokens[found.group(1)] = found.group(2)
            if "Uvicorn running on" in line:
                ready.set()

    threading.Thread(target=read, daemon=True).start()
    try:
        assert ready.wait(30), "".join(output)
        assert tokens.keys() == {"TOKEN", "ADMIN_TOKEN"}, "".join(output)
        text = "".join(output)
        assert f"curl -i http://localhost:{port}/me" in text
        base = f"http://127.0.0.1:{port}"

        me = httpx.get(f"{base}/me", headers={"Authorization": f"Bearer {tokens['TOKEN']}"})
        assert me.status_code == 200, me.text
        assert me.json()["user_id"] == "user_dev_member"

        anonymous = httpx.get(f"{base}/me")
        assert anonymous.status_code == 401
        assert anonymous.json()["reason"] == "session-token-missing"
        assert anonymous.headers["www-authenticate"] == 'Bearer error="invalid_token"'

        member_admin = httpx.get(f"{base}/admin", headers={"Authorization": f"Bearer {tokens['TOKEN']}"})
        assert member_admin.status_code == 403
        assert member_admin.json()["reason"] == "missing-role"

        admin = httpx.get(f"{base}/admin", headers={"Authorization": f"Bearer {tokens['ADMIN_TOKEN']}"})
        assert admin.status_code == 200, admin.text
        assert admin.json() == {"admin": "user_dev_admin"}

        assert httpx.get(f"{base}/docs").status_code == 200
        # A token of another Clerk (here: tampered) is still refused.
        forged = tokens["TOKEN"][:-3] + ("AAA" if not tokens["TOKEN"].endswith("AAA") else "BBB")
        assert httpx.get(f"{base}/me", headers={"Authorization": f"Bearer {forged}"}).status_code == 401
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            code = proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise
    assert code == 0, "".join(output)
    # Tokens are printed once, on purpose (the runner's job); uvicorn logs no token.
    assert sum(line.count(tokens["TOKEN"]) for line in output) == 1


def test_dev_runner_without_uvicorn_says_what_to_install(tmp_path: "os.PathLike[str]") -> None:
    # A uvicorn that cannot be imported, first on the path.
    fake = os.path.join(str(tmp_path), "uvicorn")
    os.mkdir(fake)
    with open(os.path.join(fake, "__init__.py"), "w") as f:
        f.write("raise ImportError('no uvicorn here')\n")
    result = subprocess.run(
        [sys.executable, "-m", "clerk_verifier.dev", "app:app"],
        env={**os.environ, "PYTHONPATH": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2
    assert "pip install uvicorn" in result.stderr
