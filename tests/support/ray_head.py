"""A real Ray head (``ray start --head`` from the ``ray[default]`` wheel) on loopback, for job submission tests.

Each head gets free ports for everything it listens on and a temp dir of its own, so several heads (and other
users of the machine) do not collide. It runs in a session of its own; stopping it signals every process of that
session (``ray stop`` would stop every Ray on the machine).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx

from tests.support.processes import free_port


@dataclass
class RayHead:
    url: str
    token: str
    session: int


def _session_members(session: int) -> list[int]:
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[3]) == session:  # field 6 of stat: the session id
            members.append(int(entry.name))
    return members


def _stop_session(session: int) -> None:
    for sig, wait in ((signal.SIGTERM, 5.0), (signal.SIGKILL, 5.0)):
        members = _session_members(session)
        if not members:
            return
        for pid in members:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline and _session_members(session):
            time.sleep(0.2)


@contextlib.contextmanager
def ray_head(token: str = "") -> Iterator[RayHead]:
    """A Ray head with one CPU; with ``token``, Ray token authentication on (``RAY_AUTH_MODE=token``)."""
    ray = Path(sys.executable).with_name("ray")
    if not ray.exists():
        raise RuntimeError("the ray CLI is missing: install the dev extra (ray[default])")
    temp = Path(tempfile.mkdtemp(prefix="rayhead-", dir="/tmp"))  # Ray's socket paths must stay short
    dashboard = free_port()
    env = {
        **os.environ,
        "RAY_USAGE_STATS_ENABLED": "0",
        "RAY_AUTH_MODE": "token" if token else "disabled",
    }
    if token:
        env["RAY_AUTH_TOKEN"] = token
    command = [
        str(ray),
        "start",
        "--head",
        "--node-ip-address=127.0.0.1",
        "--dashboard-host=127.0.0.1",
        f"--dashboard-port={dashboard}",
        f"--port={free_port()}",
        f"--ray-client-server-port={free_port()}",
        f"--dashboard-agent-listen-port={free_port()}",
        f"--dashboard-agent-grpc-port={free_port()}",
        f"--metrics-export-port={free_port()}",
        "--min-worker-port=0",
        "--max-worker-port=0",
        "--include-dashboard=true",
        "--num-cpus=1",
        f"--temp-dir={temp}",
        "--disable-usage-stats",
    ]
    log = (temp / "start.log").open("wb")
    process = subprocess.Popen(
        command, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True, cwd=temp
    )
    session = process.pid
    url = f"http://127.0.0.1:{dashboard}"
    try:
        process.wait(120)
        if process.returncode != 0:
            raise RuntimeError(f"ray start failed:\n{(temp / 'start.log').read_text()[-3000:]}")
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        deadline = time.monotonic() + 90
        while True:
            try:
                if httpx.get(f"{url}/api/jobs/", headers=headers, timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"the Ray dashboard at {url} did not come up")
            time.sleep(0.5)
        yield RayHead(url=url, token=token, session=session)
    finally:
        log.close()
        _stop_session(session)
        shutil.rmtree(temp, ignore_errors=True)
