"""What authentication costs: a cluster get through the service on a real kube-apiserver, with ``--auth none`` and
with ``--auth token`` (TokenReview cache warm, every Kubernetes call impersonating the caller), side by side with
the same get made straight to Kubernetes. Prints p50/p99 in milliseconds and the added latency of token mode.

Run ``python -m bench.auth_bench`` (needs ``make tools``: kube-apiserver, etcd, the CRDs).
"""

from __future__ import annotations

import json
import secrets
import ssl
import statistics
import tempfile
import time
from pathlib import Path

import httpx

from bench.api_bench import percentile
from tests.e2e import payloads
from tests.kubeapi.test_service_on_real import render
from tests.support import processes
from tests.support.kube_apiserver import RealKubeApiServer
from tests.support.tools import crd_dir

SERVICE_USER = "system:serviceaccount:ray-system:kuberay-apiserver"
CALLS = 300


def measure(client: httpx.Client, path: str) -> list[float]:
    for _ in range(20):  # warm caches and connections
        client.get(path).raise_for_status()
    durations = []
    for _ in range(CALLS):
        started = time.perf_counter()
        client.get(path).raise_for_status()
        durations.append((time.perf_counter() - started) * 1000)
    return durations


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        kube = RealKubeApiServer(workdir / "kube", crd_dir())
        kube.add_token(SERVICE_USER, secrets.token_urlsafe(24))
        kube.add_token("alice", secrets.token_urlsafe(24), ["ray-devs"])
        kube.start()
        try:
            kube.kubectl("create", "namespace", "bench", check=True)
            rbac = [d for d in render() if d["kind"] in ("ClusterRole", "ClusterRoleBinding")]
            rbac.append(
                {
                    "apiVersion": "rbac.authorization.k8s.io/v1",
                    "kind": "ClusterRoleBinding",
                    "metadata": {"name": "alice-admin"},
                    "roleRef": {
                        "apiGroup": "rbac.authorization.k8s.io",
                        "kind": "ClusterRole",
                        "name": "cluster-admin",
                    },
                    "subjects": [{"kind": "User", "name": "alice", "apiGroup": "rbac.authorization.k8s.io"}],
                }
            )
            kube.kubectl(
                "apply",
                "-f",
                "-",
                input=json.dumps({"apiVersion": "v1", "kind": "List", "items": rbac}),
                check=True,
            )
            bearer = {"Authorization": f"Bearer {kube.token_for('alice')}"}
            results: dict[str, list[float]] = {}
            path = "/apis/v1/namespaces/bench/clusters/bench-cluster"
            for mode in ("none", "token"):
                env = {"KUBERAY_APISERVER_AUTH": mode, "KUBERAY_APISERVER_WATCH": "false"}
                url = f"sqlite+aiosqlite:///{workdir / f'{mode}.db'}"
                with processes.service(
                    workdir, url, kube.kubeconfig_for(SERVICE_USER), False, env=env
                ) as service:
                    with httpx.Client(
                        base_url=service.url, headers=bearer if mode == "token" else {}, timeout=30
                    ) as api:
                        if mode == "none":
                            api.post(
                                "/apis/v1/namespaces/bench/compute_templates", json=payloads.template("bench")
                            ).raise_for_status()
                            api.post(
                                "/apis/v1/namespaces/bench/clusters",
                                json=payloads.cluster("bench", "bench-cluster"),
                            ).raise_for_status()
                        results[f"service, --auth {mode}"] = measure(api, path)
            context = ssl.create_default_context(cafile=str(kube.workdir / "pki" / "ca.crt"))
            with httpx.Client(
                base_url=kube.url,
                verify=context,
                headers={"Authorization": f"Bearer {kube.token_for('alice')}"},
            ) as raw:
                results["raw Kubernetes get"] = measure(
                    raw, "/apis/ray.io/v1/namespaces/bench/rayclusters/bench-cluster"
                )
        finally:
            kube.stop()
    print(f"Cluster get on a real kube-apiserver, {CALLS} sequential calls")
    print(f"  {'':<26} {'p50 ms':>8} {'p99 ms':>8}")
    for name, durations in results.items():
        print(f"  {name:<26} {statistics.median(durations):>8.2f} {percentile(durations, 0.99):>8.2f}")
    added = statistics.median(results["service, --auth token"]) - statistics.median(
        results["service, --auth none"]
    )
    print(f"  token mode adds {added:.2f} ms at p50 (warm TokenReview cache, impersonated Kubernetes calls)")


if __name__ == "__main__":
    main()
