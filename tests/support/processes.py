"""Start the real things the tests talk to: the dev cluster, PostgreSQL and the service, as subprocesses."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import httpx

if TYPE_CHECKING:
    from tests.support.tls import Certificates

REPO = Path(__file__).resolve().parents[2]


_HANDED_OUT: set[int] = set()


def free_port() -> int:
    """A loopback port nothing listens on, never one this process handed out before (the kernel may offer the
    same free port twice in a row, and a service's HTTP and gRPC ports would then clash)."""
    while True:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port: int = sock.getsockname()[1]
        if port not in _HANDED_OUT:
            _HANDED_OUT.add(port)
            return port


def stop(process: subprocess.Popen[bytes], timeout: float = 10) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


# Running dev clusters by kubeconfig, so a test can stop one behind the service's back.
DEV_CLUSTERS: dict[Path, subprocess.Popen[bytes]] = {}
# Running PostgreSQL servers by admin URL, with what stops them.
_POSTGRES_STOP: dict[str, list[str]] = {}


@contextlib.contextmanager
def dev_cluster(workdir: Path, *extra: str) -> Iterator[Path]:
    """A dev cluster in its own process (``extra``: its options); yields its kubeconfig."""
    kubeconfig = workdir / "dev-cluster.kubeconfig"
    log = (workdir / "dev-cluster.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "service.devcluster", "--port", "0", "--kubeconfig", str(kubeconfig), *extra],
        stdout=subprocess.PIPE,
        stderr=log,
        cwd=REPO,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline().decode()
        if "DEV CLUSTER READY" not in line:
            raise RuntimeError(f"dev cluster did not start: {line!r}; see {workdir / 'dev-cluster.log'}")
        DEV_CLUSTERS[kubeconfig] = process
        yield kubeconfig
    finally:
        DEV_CLUSTERS.pop(kubeconfig, None)
        stop(process)
        if process.stdout is not None:
            process.stdout.close()
        log.close()


def _pg_bin() -> Path | None:
    found = shutil.which("pg_ctl")
    if found:
        return Path(found).parent
    candidates = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"), reverse=True)
    return candidates[0].parent if candidates else None


@contextlib.contextmanager
def postgres() -> Iterator[str]:
    """A throwaway PostgreSQL server on loopback; yields an admin URL without a database name."""
    bindir = _pg_bin()
    if bindir is None:
        raise RuntimeError("PostgreSQL binaries not found: install the Debian package 'postgresql'")
    # Not under pytest's tmp dir: when running as root that is private to root, and the server runs as 'postgres'.
    workdir = Path(tempfile.mkdtemp(prefix="kuberay-pg-"))
    workdir.chmod(0o755)
    data = workdir / "pgdata"
    data.mkdir()
    port = free_port()
    as_user: list[str] = []
    if os.geteuid() == 0:
        # initdb refuses to run as root; Debian's package creates the 'postgres' user.
        shutil.chown(workdir, "postgres")
        shutil.chown(data, "postgres")
        as_user = ["runuser", "-u", "postgres", "--"]
    subprocess.run(
        [*as_user, str(bindir / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres", "--no-sync"],
        check=True,
        capture_output=True,
    )
    options = f"-p {port} -k {workdir} -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off"
    subprocess.run(
        [
            *as_user,
            str(bindir / "pg_ctl"),
            "-D",
            str(data),
            "-o",
            options,
            "-l",
            str(workdir / "pg.log"),
            "-w",
            "start",
        ],
        check=True,
        capture_output=True,
    )
    url = f"postgresql+asyncpg://postgres@127.0.0.1:{port}"
    _POSTGRES_STOP[url] = [*as_user, str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"]
    try:
        yield url
    finally:
        _POSTGRES_STOP.pop(url, None)
        subprocess.run(
            [*as_user, str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"],
            capture_output=True,
        )
        shutil.rmtree(workdir, ignore_errors=True)


def stop_postgres(admin_url: str) -> None:
    """Stop a server started by ``postgres()`` early (to test what happens when the database goes away)."""
    subprocess.run(_POSTGRES_STOP[admin_url], capture_output=True, check=True)


def create_database(admin_url: str, name: str) -> str:
    """Create database ``name`` on the server and return its async URL."""
    import asyncio

    import asyncpg

    plain = admin_url.replace("postgresql+asyncpg://", "postgresql://")

    async def run() -> None:
        conn = await asyncpg.connect(plain + "/postgres")
        try:
            await conn.execute(f'CREATE DATABASE "{name}"')
        finally:
            await conn.close()

    asyncio.run(run())
    return f"{admin_url}/{name}"


class Service:
    """A running ``kuberay-apiserver serve`` (over HTTPS and gRPC over TLS when ``tls`` is given)."""

    def __init__(
        self,
        url: str,
        process: subprocess.Popen[bytes],
        log_path: Path,
        grpc_port: int,
        tls: Certificates | None = None,
    ) -> None:
        self.url = url
        self.process = process
        self.log_path = log_path
        self.grpc_port = grpc_port
        self.tls = tls

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def start_service(
    workdir: Path,
    database_url: str,
    kubeconfig: Path,
    grpc: bool = True,
    *extra: str,
    env: dict[str, str] | None = None,
    tls: Certificates | None = None,
) -> Service:
    """Start the service on a free loopback port and wait until /readyz answers 200; the caller stops it.

    With ``tls`` it serves HTTPS (the URL is ``https://``, checked against ``tls.ca``) and gRPC over TLS."""
    port = free_port()
    grpc_port = free_port() if grpc else 0
    log_path = workdir / f"service-{port}.log"
    log = log_path.open("wb")
    env = {
        **os.environ,
        "KUBERAY_APISERVER_DATABASE_URL": database_url,
        "KUBERAY_APISERVER_LOG_FORMAT": "json",
        # The suite's default: no authentication (tests/auth runs every other mode).
        "KUBERAY_APISERVER_AUTH": "none",
        "KUBERAY_APISERVER_ALLOW_ANONYMOUS": "true",
        **(env or {}),
    }
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "service",
            "serve",
            "--host",
            "127.0.0.1",
            "--http-port",
            str(port),
            "--grpc-port",
            str(grpc_port),
            "--kubeconfig",
            str(kubeconfig),
            *(tls.options() if tls else ()),
            *extra,
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env,
        cwd=workdir,
    )
    log.close()  # the child has its own copy
    url = f"{'https' if tls else 'http'}://127.0.0.1:{port}"
    try:
        wait_ready(url, process, log_path, verify=tls.client_context() if tls else True)
    except BaseException:
        stop(process)
        raise
    return Service(url, process, log_path, grpc_port, tls)


@contextlib.contextmanager
def service(
    workdir: Path,
    database_url: str,
    kubeconfig: Path,
    grpc: bool = True,
    *extra: str,
    env: dict[str, str] | None = None,
    tls: Certificates | None = None,
) -> Iterator[Service]:
    """The service on a free loopback port, waited for until /readyz answers 200; ``env`` adds variables,
    ``tls`` serves HTTPS and gRPC over TLS with those certificates."""
    running = start_service(workdir, database_url, kubeconfig, grpc, *extra, env=env, tls=tls)
    try:
        yield running
    finally:
        stop(running.process)


def wait_ready(
    url: str,
    process: subprocess.Popen[bytes],
    log_path: Path,
    timeout: float = 60,
    verify: ssl.SSLContext | bool = True,
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"service exited with {process.returncode}:\n{log_path.read_text()[-3000:]}")
        try:
            if httpx.get(f"{url}/readyz", timeout=2, verify=verify).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"service not ready after {timeout}s:\n{log_path.read_text()[-3000:]}")
