"""Reads from the read model against a raw Kubernetes client, side by side in one run.

For each backend (the dev cluster and a real kube-apiserver), each spread (all RayClusters in one namespace, or
in ten) and each size (100, 1,000, 10,000 RayClusters in all), it times through the service (HTTP on loopback)
and through kubernetes-asyncio straight to the same Kubernetes API: get p50, get throughput with 8 concurrent
clients, list of one namespace p50, list of every namespace p50 (ten namespaces only), create p50 (the service's
create includes its intent and outcome rows); then prints the ratios service / raw and the service's resident
memory (RSS, and peak RSS). Each spread starts a fresh backend and service. ``--before`` runs the service with
``READ_CACHE=false`` (every read goes to Kubernetes), for the figures before the read model. ``--sizes 100,1000``
picks sizes; ``--namespaces 1,10`` the spreads; ``--kube dev|real``.

Run ``python -m bench.read_bench`` (the real kube-apiserver needs ``make tools``).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import random
import statistics
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import httpx
from kubernetes_asyncio import client, config

from service.vocabulary import INTENT_ANNOTATION
from tests.e2e import payloads
from tests.support import processes
from tests.support.kube_apiserver import RealKubeApiServer
from tests.support.tools import crd_dir

NAMESPACE = "bench"
GETS = 300
SECONDS = 4.0
CLIENTS = 8
CREATES = 100


def _memory(pid: int) -> tuple[float, float]:
    """RSS and peak RSS of a process, MiB."""
    values = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            values[key] = int(rest.split()[0]) / 1024
    return values["VmRSS"], values["VmHWM"]


class _Watcher:
    """Samples the service's RSS while the benchmark runs, remembering what it was doing at the highest one."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.phase = "start"
        self.high = (0.0, "")

    def at(self, phase: str) -> None:
        self.phase = phase

    async def run(self) -> None:
        while True:
            rss, _ = _memory(self.pid)
            if rss > self.high[0]:
                self.high = (rss, self.phase)
            await asyncio.sleep(0.05)


async def _timed(call: Callable[[], Awaitable[Any]], times: int) -> list[float]:
    durations = []
    for _ in range(times):
        started = time.perf_counter()
        await call()
        durations.append((time.perf_counter() - started) * 1000)
    return durations


async def _throughput(call: Callable[[], Awaitable[Any]]) -> float:
    end = time.perf_counter() + SECONDS
    done = 0

    async def worker() -> None:
        nonlocal done
        while time.perf_counter() < end:
            await call()
            done += 1

    await asyncio.gather(*(worker() for _ in range(CLIENTS)))
    return done / SECONDS


def _raw_cluster(name: str) -> dict[str, Any]:
    return {
        "apiVersion": "ray.io/v1",
        "kind": "RayCluster",
        "metadata": {"name": name, "labels": {"ray.io/user": "bench"}},
        "spec": {
            "rayVersion": "2.46.0",
            "headGroupSpec": {
                "rayStartParams": {"dashboard-host": "0.0.0.0"},
                "serviceType": "ClusterIP",
                "template": {
                    "spec": {
                        "containers": [
                            {
                                "name": "ray-head",
                                "image": "rayproject/ray:2.46.0",
                                "resources": {
                                    "limits": {"cpu": "1", "memory": "2Gi"},
                                    "requests": {"cpu": "1", "memory": "2Gi"},
                                },
                                "ports": [{"containerPort": 8265, "name": "dashboard"}],
                            }
                        ]
                    }
                },
            },
            "workerGroupSpecs": [
                {
                    "groupName": "small",
                    "replicas": 1,
                    "minReplicas": 0,
                    "maxReplicas": 5,
                    "rayStartParams": {},
                    "template": {
                        "spec": {
                            "containers": [
                                {
                                    "name": "ray-worker",
                                    "image": "rayproject/ray:2.46.0",
                                    "resources": {"limits": {"cpu": "1", "memory": "1Gi"}},
                                }
                            ]
                        }
                    },
                }
            ],
        },
    }


def _as_sent(obj: dict[str, Any]) -> dict[str, Any]:
    """An object as a client would send it: without what Kubernetes and the service's record added."""
    metadata = {
        key: value for key, value in obj["metadata"].items() if key in ("namespace", "labels", "annotations")
    }
    annotations = dict(metadata.get("annotations") or {})
    annotations.pop(INTENT_ANNOTATION, None)
    metadata["annotations"] = annotations
    return {"apiVersion": obj["apiVersion"], "kind": obj["kind"], "metadata": metadata, "spec": obj["spec"]}


def _spaces(count: int) -> list[str]:
    return [NAMESPACE] if count == 1 else [f"{NAMESPACE}-{index}" for index in range(count)]


def _placed(spaces: list[str], index: int) -> tuple[str, str]:
    """Where the populated cluster number ``index`` lives: namespace and name."""
    return spaces[index % len(spaces)], f"c{index:05d}"


async def _populate(custom: client.CustomObjectsApi, spaces: list[str], start: int, stop: int) -> None:
    queue = list(range(start, stop))

    async def worker() -> None:
        while queue:
            namespace, name = _placed(spaces, queue.pop())
            await custom.create_namespaced_custom_object(
                "ray.io", "v1", namespace, "rayclusters", _raw_cluster(name)
            )

    await asyncio.gather(*(worker() for _ in range(32)))


@contextlib.contextmanager
def _backend(kind: str, workdir: Path) -> Iterator[Path]:
    if kind == "dev":
        with processes.dev_cluster(workdir) as kubeconfig:
            yield kubeconfig
        return
    kube = RealKubeApiServer(workdir / "kube", crd_dir())
    kube.start()
    try:
        yield kube.kubeconfig
    finally:
        kube.stop()


@contextlib.asynccontextmanager
async def _raw(kubeconfig: Path) -> AsyncIterator[client.ApiClient]:
    cfg = client.Configuration()
    await config.load_kube_config(config_file=str(kubeconfig), client_configuration=cfg)
    async with client.ApiClient(cfg) as api:
        yield api


async def _wait_listed(url: str, count: int) -> None:
    async with httpx.AsyncClient(base_url=url, timeout=300) as api:
        for _ in range(600):
            listed = (await api.get("/apis/v1/clusters")).json().get("clusters", [])
            if len(listed) >= count:
                return
            await asyncio.sleep(0.5)
    raise RuntimeError(f"the service never listed {count} clusters")


async def _measure(
    service: processes.Service,
    raw_api: client.ApiClient,
    spaces: list[str],
    size: int,
    created: int,
    watcher: _Watcher,
) -> dict[str, tuple[float, float]]:
    custom = client.CustomObjectsApi(raw_api)
    placed = [_placed(spaces, index) for index in range(size)]
    lists = 5 if size <= 1000 else 3
    results: dict[str, tuple[float, float]] = {}
    # The same HTTP client library as kubernetes-asyncio's, so the ratio compares servers, not clients.
    # Idle connections are dropped before the server's keep-alive timeout (5 s), so none is reused as it closes.
    connector = aiohttp.TCPConnector(keepalive_timeout=2)
    async with aiohttp.ClientSession(
        service.url, timeout=aiohttp.ClientTimeout(total=300), trust_env=False, connector=connector
    ) as api:
        watcher.at("first list")
        await _wait_listed(service.url, size)
        first = spaces[0]
        base = f"/apis/v1/namespaces/{first}/clusters"

        async def service_get() -> None:
            namespace, name = random.choice(placed)
            async with api.get(f"/apis/v1/namespaces/{namespace}/clusters/{name}") as response:
                response.raise_for_status()
                await response.read()

        async def raw_get() -> None:
            namespace, name = random.choice(placed)
            await custom.get_namespaced_custom_object("ray.io", "v1", namespace, "rayclusters", name)

        async def service_list() -> None:
            async with api.get(base) as response:
                response.raise_for_status()
                json.loads(await response.read())

        async def raw_list() -> None:
            await custom.list_namespaced_custom_object("ray.io", "v1", first, "rayclusters")

        async def service_list_all() -> None:
            async with api.get("/apis/v1/clusters") as response:
                response.raise_for_status()
                json.loads(await response.read())

        async def raw_list_all() -> None:
            await custom.list_cluster_custom_object("ray.io", "v1", "rayclusters")

        watcher.at("get")
        for call in (service_get, raw_get):
            await _timed(call, 20)  # warm connections
        results["get p50 ms"] = (
            statistics.median(await _timed(service_get, GETS)),
            statistics.median(await _timed(raw_get, GETS)),
        )
        watcher.at("get throughput")
        results[f"get/s, {CLIENTS} clients"] = (await _throughput(service_get), await _throughput(raw_get))
        watcher.at("list")
        in_first = sum(1 for namespace, _ in placed if namespace == first)
        results[f"list {in_first} p50 ms"] = (
            statistics.median(await _timed(service_list, lists)),
            statistics.median(await _timed(raw_list, lists)),
        )
        if len(spaces) > 1:
            results[f"list all {size} p50"] = (
                statistics.median(await _timed(service_list_all, lists)),
                statistics.median(await _timed(raw_list_all, lists)),
            )
        watcher.at("create")
        counter = iter(range(created, created + 10_000))
        names: list[str] = []

        async def service_create() -> None:
            names.append(f"s{next(counter):05d}")
            body = {**payloads.cluster(first, names[-1]), "user": "bench"}
            async with api.post(f"/apis/v1/namespaces/{first}/clusters", json=body) as response:
                response.raise_for_status()
                await response.read()

        await service_create()
        # The raw client creates the very object the service made (its own metadata aside): both then ask the same
        # of Kubernetes, and the ratio is the service's own cost, intent and outcome rows included.
        made = await custom.get_namespaced_custom_object("ray.io", "v1", first, "rayclusters", names[-1])
        same = _as_sent(made)

        async def raw_create() -> None:
            body = {**same, "metadata": {**same["metadata"], "name": f"r{next(counter):05d}"}}
            await custom.create_namespaced_custom_object("ray.io", "v1", first, "rayclusters", body)

        # Taken in turns, so that whatever else the machine does slows both alike.
        ours, theirs = [], []
        for _ in range(CREATES):
            ours.extend(await _timed(service_create, 1))
            theirs.extend(await _timed(raw_create, 1))
        results["create p50 ms"] = (statistics.median(ours), statistics.median(theirs))
    return results


async def _run(kind: str, count: int, sizes: list[int], before: bool, workdir: Path) -> None:
    spaces = _spaces(count)
    with _backend(kind, workdir) as kubeconfig:
        async with _raw(kubeconfig) as raw_api:
            for namespace in spaces:
                await client.CoreV1Api(raw_api).create_namespace({"metadata": {"name": namespace}})
            env = {"KUBERAY_APISERVER_LOG_LEVEL": "WARNING"}
            if before:
                env["KUBERAY_APISERVER_READ_CACHE"] = "false"
            database = f"sqlite+aiosqlite:///{workdir / f'{kind}.db'}"
            with processes.service(workdir, database, kubeconfig, False, env=env) as service:
                async with httpx.AsyncClient(base_url=service.url, timeout=60) as api:
                    template = payloads.template(spaces[0])
                    (
                        await api.post(f"/apis/v1/namespaces/{spaces[0]}/compute_templates", json=template)
                    ).raise_for_status()
                idle = _memory(service.process.pid)
                mode = "before: READ_CACHE=false" if before else "read model"
                where = "one namespace" if count == 1 else f"{count} namespaces"
                print(f"\n{kind} backend, {where} ({mode}); service idle RSS {idle[0]:.0f} MiB")
                print(f"  {'size':>6} {'measure':<18} {'service':>10} {'raw':>10} {'ratio':>7}")
                populated, created = 0, 0
                watcher = _Watcher(service.process.pid)
                sampler = asyncio.create_task(watcher.run())
                for size in sizes:
                    watcher.at("populate")
                    await _populate(client.CustomObjectsApi(raw_api), spaces, populated, size)
                    populated = size
                    # Creates add objects: the list sizes below count only the populated ones, so create last.
                    results = await _measure(service, raw_api, spaces, size, created, watcher)
                    created += 2 * CREATES + 1
                    for measure, (ours, raw) in results.items():
                        ratio = ours / raw if raw else float("nan")
                        print(f"  {size:>6} {measure:<18} {ours:>10.2f} {raw:>10.2f} {ratio:>7.2f}")
                    rss, peak = _memory(service.process.pid)
                    print(f"  {size:>6} {'service RSS MiB':<18} {rss:>10.0f} {'peak':>10} {peak:>7.0f}")
                    high, phase = watcher.high
                    print(f"  {size:>6} {'sampled high MiB':<18} {high:>10.0f} {'during':>10} {phase}")
                sampler.cancel()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kube", choices=["dev", "real", "all"], default="all")
    parser.add_argument("--sizes", default="100,1000,10000")
    parser.add_argument("--namespaces", default="1,10", help="spreads to run: clusters in 1 namespace, in 10")
    parser.add_argument(
        "--before", action="store_true", help="reads straight from Kubernetes (READ_CACHE=false)"
    )
    args = parser.parse_args()
    sizes = [int(size) for size in args.sizes.split(",")]
    spreads = [int(count) for count in args.namespaces.split(",")]
    kinds = ["dev", "real"] if args.kube == "all" else [args.kube]
    print(
        "service / raw: a ratio under 1 means the service is faster (latency) — for get/s, over 1 is faster"
    )
    for kind in kinds:
        for count in spreads:
            with tempfile.TemporaryDirectory() as tmp:
                asyncio.run(_run(kind, count, sizes, args.before, Path(tmp)))


if __name__ == "__main__":
    main()
