"""A continue token Kubernetes has compacted away is a 400 that says to start the list again, not a 500."""

from __future__ import annotations

import time
import uuid
from pathlib import Path

import httpx
import pytest

from tests.e2e import payloads
from tests.support import processes
from tests.support.kube_apiserver import RealKubeApiServer

pytestmark = pytest.mark.kubeapi


def test_an_expired_continue_token_is_400(real_kube: RealKubeApiServer, tmp_path: Path) -> None:
    namespace = f"t-{uuid.uuid4().hex[:8]}"
    real_kube.kubectl("create", "namespace", namespace, check=True)
    url = f"sqlite+aiosqlite:///{tmp_path / 'continue.db'}"
    # Kubernetes' own continue tokens: with the read model off (its pages walk a snapshot held in memory instead).
    env = {"KUBERAY_APISERVER_READ_CACHE": "false"}
    with processes.service(tmp_path, url, real_kube.kubeconfig, False, env=env) as service:
        with httpx.Client(base_url=service.url, timeout=30) as http:
            assert (
                http.post(
                    f"/apis/v1/namespaces/{namespace}/compute_templates", json=payloads.template(namespace)
                ).status_code
                == 200
            )
            for index in range(2):
                body = payloads.cluster(namespace, f"page-{index}")
                assert http.post(f"/apis/v1/namespaces/{namespace}/clusters", json=body).status_code == 200
            token = http.get(f"/apis/v1/namespaces/{namespace}/clusters", params={"limit": 1}).json()[
                "continue"
            ]
            # Newer revisions, then compaction (every second on this test server) removes the token's revision.
            deadline = time.monotonic() + 30
            while True:
                http.post(
                    f"/apis/v1/namespaces/{namespace}/compute_templates",
                    json=payloads.template(namespace, f"x-{uuid.uuid4().hex[:6]}"),
                )
                page = http.get(
                    f"/apis/v1/namespaces/{namespace}/clusters", params={"limit": 1, "continue": token}
                )
                if page.status_code != 200 or time.monotonic() > deadline:
                    break
                time.sleep(0.5)
            assert page.status_code == 400 and page.json()["code"] == 3, page.text
            assert "start the list again" in page.json()["message"]
