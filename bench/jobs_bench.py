"""Job submission through the service to a real Ray head (``ray start --head``, one CPU): time from submit to the
first log line of a followed log, and how many lines per second the log stream carries, for a job that prints as
fast as it can. Side by side: the same first line read by polling the dashboard directly.

Run ``python -m bench.jobs_bench`` (the dev cluster and the ``ray`` CLI of the dev extra; about a minute).
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

import httpx

from tests.support import processes
from tests.support.ray_head import ray_head

NAMESPACE = "bench"
CLUSTER = "bench-head"
RUNS = 5
LINES = 20000
FIRST_LINE = "python -c \"print('first', flush=True)\""
FLOOD = f"python -c \"import sys\nfor i in range({LINES}): sys.stdout.write(f'line {{i}}\\n')\nsys.stdout.flush()\""


def make_cluster(client: httpx.Client, kubeconfig: Path) -> None:
    """A RayCluster in the dev cluster, its state set ready as the operator would."""
    import yaml

    server = yaml.safe_load(kubeconfig.read_text())["clusters"][0]["cluster"]["server"]
    with httpx.Client(base_url=server, timeout=10) as kube:
        kube.post("/api/v1/namespaces", json={"metadata": {"name": NAMESPACE}})
        body = {
            "apiVersion": "ray.io/v1",
            "kind": "RayCluster",
            "metadata": {"name": CLUSTER},
            "spec": {
                "headGroupSpec": {
                    "rayStartParams": {},
                    "template": {"spec": {"containers": [{"name": "ray-head", "image": "rayproject/ray"}]}},
                }
            },
        }
        kube.post(f"/apis/ray.io/v1/namespaces/{NAMESPACE}/rayclusters", json=body).raise_for_status()
        kube.patch(
            f"/apis/ray.io/v1/namespaces/{NAMESPACE}/rayclusters/{CLUSTER}/status",
            json={"status": {"state": "ready"}},
            headers={"Content-Type": "application/merge-patch+json"},
        ).raise_for_status()


def follow(client: httpx.Client, path: str) -> tuple[float, int, float]:
    """When the first data line came (``perf_counter``), data lines seen, seconds from it to the end."""
    first, count = 0.0, 0
    with client.stream("GET", path, params={"follow": "true"}, timeout=120) as response:
        response.raise_for_status()
        event = ""
        for line in response.iter_lines():
            if line.startswith("event:"):
                event = line[6:].strip()
            elif line.startswith("data:") and event != "end":
                count += 1
                first = first or time.perf_counter()
            elif not line:
                event = ""
    return first, count, time.perf_counter() - first


def direct_first_line(dashboard: str) -> float:
    """Submit straight to the dashboard and poll its log until the first line shows (the floor)."""
    with httpx.Client(base_url=dashboard, timeout=10) as ray:
        started = time.perf_counter()
        job = ray.post("/api/jobs/", json={"entrypoint": FIRST_LINE}).json()["submission_id"]
        while "first" not in ray.get(f"/api/jobs/{job}/logs").json().get("logs", ""):
            time.sleep(0.05)
        return time.perf_counter() - started


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp, ray_head() as head:
        workdir = Path(tmp)
        with processes.dev_cluster(workdir) as kubeconfig:
            env = {
                "KUBERAY_APISERVER_DASHBOARD_URLS": f"*/{CLUSTER}={head.url}",
                "KUBERAY_APISERVER_LOG_POLL_SECONDS": "0.1",
            }
            url = f"sqlite+aiosqlite:///{workdir / 'bench.db'}"
            with (
                processes.service(workdir, url, kubeconfig, False, env=env) as running,
                httpx.Client(base_url=running.url, timeout=30) as client,
            ):
                make_cluster(client, kubeconfig)
                base = f"/apis/v1/namespaces/{NAMESPACE}/jobsubmissions/{CLUSTER}"
                firsts, directs = [], []
                for _ in range(RUNS):
                    started = time.perf_counter()
                    job = client.post(base, json={"entrypoint": FIRST_LINE}).json()["submissionId"]
                    first, _, _ = follow(client, f"{base}/log/{job}")
                    firsts.append(first - started)
                    directs.append(direct_first_line(head.url))
                job = client.post(base, json={"entrypoint": FLOOD}).json()["submissionId"]
                _, count, rest = follow(client, f"{base}/log/{job}")
    print(
        f"submit + follow, first log line: median {statistics.median(firsts) * 1000:.0f} ms over {RUNS} runs"
    )
    print(f"  submit + poll the dashboard directly: median {statistics.median(directs) * 1000:.0f} ms")
    print(
        f"log stream: {count} lines in {rest:.2f} s after the first ({count / max(rest, 1e-3):.0f} lines/s)"
    )


if __name__ == "__main__":
    main()
