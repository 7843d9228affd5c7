"""A Kubernetes-native watch lives as long as it asks (``timeoutSeconds``), not the request deadline: against a
service whose request deadline is 2 s, a watch still delivers a change made after 3 s and one made after 30 s
(where upstream's V2 server cuts every request)."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
from kubernetes_asyncio import client, config

from tests.kubenative.test_ray_routes import raycluster
from tests.support import processes

DEADLINE = 2.0


async def _watch_across_the_deadline(url: str, kubeconfig: Path) -> list[tuple[float, dict[str, Any]]]:
    namespace = f"t-{uuid.uuid4().hex[:10]}"
    cfg = client.Configuration()
    await config.load_kube_config(config_file=str(kubeconfig), client_configuration=cfg)
    async with client.ApiClient(configuration=cfg) as kube:
        await client.CoreV1Api(kube).create_namespace({"metadata": {"name": namespace}})
    base = f"/apis/ray.io/v1/namespaces/{namespace}/rayclusters"
    seen: list[tuple[float, dict[str, Any]]] = []
    async with httpx.AsyncClient(base_url=url, timeout=httpx.Timeout(10, read=45)) as http:
        started = time.monotonic()

        async def watch() -> None:
            params = {"watch": "true", "timeoutSeconds": "60"}
            async with http.stream("GET", base, params=params) as response:
                assert response.status_code == 200, await response.aread()
                async for line in response.aiter_lines():
                    if line.strip():
                        seen.append((time.monotonic() - started, json.loads(line)))
                        if len(seen) == 2:
                            return

        watcher = asyncio.create_task(watch())
        await asyncio.sleep(DEADLINE + 1)
        assert (await http.post(base, json=raycluster("after-deadline"))).status_code == 201
        await asyncio.sleep(31 - (time.monotonic() - started))
        assert not watcher.done(), "the watch ended early"
        assert (await http.post(base, json=raycluster("after-thirty-seconds"))).status_code == 201
        await asyncio.wait_for(watcher, 10)
    return seen


def test_a_native_watch_outlives_the_request_deadline(dev_kubeconfig: Path, tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'watch.db'}"
    env = {"KUBERAY_APISERVER_REQUEST_TIMEOUT": str(DEADLINE)}
    with processes.service(tmp_path, url, dev_kubeconfig, False, env=env) as service:
        seen = asyncio.run(_watch_across_the_deadline(service.url, dev_kubeconfig))
    events = [(event["type"], event["object"]["metadata"]["name"]) for _, event in seen]
    assert events == [("ADDED", "after-deadline"), ("ADDED", "after-thirty-seconds")], seen
    assert seen[0][0] > DEADLINE and seen[1][0] > 30, [at for at, _ in seen]
