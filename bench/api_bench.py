"""HTTP API benchmark: latency of the common calls through a real service on loopback.

Run ``python -m bench.api_bench`` from the repository root. It starts a dev cluster and the service (as
subprocesses, SQLite by default, ``--postgres`` for a throwaway PostgreSQL), then times, with one client:
create compute template, create cluster, get cluster, list a namespace's clusters (one page of 100 and all),
list with history, and delete; and the throughput of concurrent gets. It prints p50/p99 in milliseconds.
The figures include the dev cluster's own HTTP round trips, so they bound the service's overhead from above.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

import httpx

from tests.e2e import payloads
from tests.support import processes


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


async def timed(calls: list[Callable[[], Awaitable[httpx.Response]]]) -> list[float]:
    """Milliseconds per call, run one after the other; every call must answer 200."""
    durations = []
    for call in calls:
        started = time.perf_counter()
        response = await call()
        durations.append((time.perf_counter() - started) * 1000)
        if response.status_code != 200:
            raise RuntimeError(
                f"{response.request.method} {response.request.url}: {response.status_code} {response.text}"
            )
    return durations


def report(name: str, durations: list[float]) -> None:
    print(
        f"  {name:<34} {len(durations):>5} {statistics.median(durations):>8.2f} {percentile(durations, 0.99):>8.2f}"
    )


async def run(url: str, clusters: int) -> None:
    namespace = "ray-system"
    base = f"/apis/v1/namespaces/{namespace}"
    async with httpx.AsyncClient(base_url=url, timeout=60) as api:
        print(f"  {'call':<34} {'n':>5} {'p50 ms':>8} {'p99 ms':>8}")
        report(
            "create compute template",
            await timed(
                [
                    lambda i=i: api.post(
                        f"{base}/compute_templates", json=payloads.template(namespace, f"tpl{i}")
                    )  # type: ignore[misc]
                    for i in range(50)
                ]
            ),
        )
        report(
            "create cluster",
            await timed(
                [
                    lambda i=i: api.post(
                        f"{base}/clusters", json=payloads.cluster(namespace, f"c{i:04d}", "tpl0")
                    )  # type: ignore[misc]
                    for i in range(clusters)
                ]
            ),
        )
        report(
            "get cluster",
            await timed(
                [
                    lambda i=i: api.get(f"{base}/clusters/c{i % clusters:04d}")
                    for i in range(200)  # type: ignore[misc]
                ]
            ),
        )
        report(
            "list clusters, page of 100",
            await timed([lambda: api.get(f"{base}/clusters", params={"limit": 100})] * 30),
        )
        report(f"list clusters, all {clusters}", await timed([lambda: api.get(f"{base}/clusters")] * 30))
        report(
            "delete cluster",
            await timed(
                [
                    lambda i=i: api.delete(f"{base}/clusters/c{i:04d}")
                    for i in range(clusters // 2)  # type: ignore[misc]
                ]
            ),
        )
        report(
            "list with history (includeDeleted)",
            await timed([lambda: api.get(f"{base}/clusters", params={"includeDeleted": "true"})] * 30),
        )
        report(
            "audit, first page",
            await timed([lambda: api.get("/apis/v1/audit", params={"pageSize": 100})] * 50),
        )

        started = time.perf_counter()
        total, concurrency = 400, 8

        async def worker(offset: int) -> None:
            for i in range(offset, total, concurrency):
                response = await api.get(f"{base}/clusters/c{clusters // 2 + i % (clusters // 2):04d}")
                response.raise_for_status()

        await asyncio.gather(*(worker(k) for k in range(concurrency)))
        elapsed = time.perf_counter() - started
        print(f"  concurrent gets: {total / elapsed:.0f} requests/s with {concurrency} clients")


@contextlib.contextmanager
def database(use_postgres: bool, workdir: Path) -> Iterator[str]:
    if not use_postgres:
        yield f"sqlite+aiosqlite:///{workdir / 'bench.db'}"
        return
    with processes.postgres() as admin_url:
        yield processes.create_database(admin_url, "bench")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--clusters", type=int, default=200, help="clusters to create (default 200)")
    parser.add_argument(
        "--postgres", action="store_true", help="use a throwaway PostgreSQL instead of SQLite"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        with (
            processes.dev_cluster(workdir) as kubeconfig,
            database(args.postgres, workdir) as url,
            processes.service(workdir, url, kubeconfig, grpc=False) as service,
        ):
            backend = "PostgreSQL" if args.postgres else "SQLite"
            print(f"HTTP API, {backend}, dev cluster, {args.clusters} clusters")
            asyncio.run(run(service.url, args.clusters))


if __name__ == "__main__":
    main()
