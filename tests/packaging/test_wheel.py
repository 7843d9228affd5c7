"""The wheel built from the repository is complete: installed into an empty venv, it serves and is ready.

This proves the package ships what `serve` needs at run time: the Alembic migrations, the gRPC stubs and the
Swagger UI assets.
"""

from __future__ import annotations

import subprocess
import sys
import venv
from pathlib import Path

import httpx

from tests.support import processes

REPO = Path(__file__).resolve().parents[2]


def test_wheel_installs_and_serves(tmp_path: Path) -> None:
    dist = tmp_path / "dist"
    subprocess.run(
        [sys.executable, "-m", "build", "--wheel", "--outdir", str(dist), str(REPO)],
        check=True,
        capture_output=True,
    )
    (wheel,) = dist.glob("kuberay_apiserver-*.whl")
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    pip = subprocess.run(
        [str(env_dir / "bin" / "python"), "-m", "pip", "install", "--quiet", str(wheel)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert pip.returncode == 0, pip.stderr[-3000:]

    # Run from an unrelated directory so nothing can be picked up from the checkout.
    workdir = tmp_path / "run"
    workdir.mkdir()
    port = processes.free_port()
    log_path = workdir / "service.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [
                str(env_dir / "bin" / "kuberay-apiserver"),
                "serve",
                "--dev-cluster",
                "--http-port",
                str(port),
                "--grpc-port",
                str(processes.free_port()),
            ],
            cwd=workdir,
            stdout=log,
            stderr=subprocess.STDOUT,
            env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},
        )
        try:
            url = f"http://127.0.0.1:{port}"
            processes.wait_ready(url, process, log_path)
            assert httpx.get(f"{url}/readyz").json()["checks"] == {
                "database": "ok",
                "kubernetes": "ok",
                "informers": "ok",
            }
            assert httpx.get(f"{url}/schema/static/swagger-ui-bundle.js").status_code == 200
            assert httpx.get(f"{url}/apis/v1/compute_templates").json() == {"computeTemplates": []}
        finally:
            processes.stop(process)
    assert (workdir / "kuberay-apiserver.db").exists()
    assert "Running upgrade" in log_path.read_text()
