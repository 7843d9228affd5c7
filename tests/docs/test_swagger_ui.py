"""The API docs render in a real browser (headless Chromium, Debian's package) from the installed package alone:
the operations are listed, and every request the page makes goes to the service itself."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import httpx

from tests.conftest import unavailable
from tests.support import processes

# Chromium's own background services call home at start; these flags keep it quiet on a closed network.
QUIET = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def render(url: str, workdir: Path) -> tuple[str, list[tuple[str, str]]]:
    """The page's DOM once its scripts ran, and (initiator, url) of every request the page itself made."""
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        unavailable("chromium is not installed (Debian package chromium; hack/ensure-system-packages.sh)")
    net_log = workdir / "net.json"
    dom = subprocess.run(
        [
            str(browser),
            *QUIET,
            f"--user-data-dir={workdir / 'profile'}",
            f"--log-net-log={net_log}",
            "--virtual-time-budget=20000",
            "--dump-dom",
            url,
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout
    log = json.loads(net_log.read_text())
    names = {code: name for name, code in log["constants"]["logEventTypes"].items()}
    requests = []
    for event in log["events"]:
        params = event.get("params") or {}
        if names.get(event["type"]) == "URL_REQUEST_START_JOB" and "url" in params:
            requests.append((str(params.get("initiator", "")), str(params["url"])))
    return dom, requests


def test_swagger_ui_lists_the_operations_offline(dev_kubeconfig: Path, tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'docs.db'}"
    with processes.service(
        tmp_path, url, dev_kubeconfig, False, env={"KUBERAY_APISERVER_WATCH": "false"}
    ) as service:
        # Swagger UI gives each operation block the id "operations-<tag>-<operationId>".
        operations = [
            f'id="operations-{operation["tags"][0]}-{operation["operationId"]}"'
            for path in httpx.get(f"{service.url}/schema/openapi.json").json()["paths"].values()
            for operation in path.values()
        ]
        for page in ("/schema/swagger", "/swagger-ui/"):
            dom, requests = render(f"{service.url}{page}", tmp_path / page.strip("/").replace("/", "-"))
            assert "Unable to render" not in dom
            shown = [op for op in operations if op in dom]
            assert shown == operations, sorted(set(operations) - set(shown))
            page_requests = [u for initiator, u in requests if initiator == service.url]
            assert page_requests, requests
            assert [u for u in page_requests if not u.startswith(service.url + "/")] == []
