"""A whole control plane on loopback for tests: the KubeRay operator reconciling on fake nodes.

etcd + kube-apiserver come from :class:`RealKubeApiServer`; on top run kube-scheduler, kube-controller-manager
(garbage collector, Job and namespace controllers, service-account tokens), kwok (fake nodes that "run" pods
by the stages in ``tests/data/kwok/stages.yaml``) and the KubeRay operator. Binaries come from
``hack/build-control-plane.sh``. Pods never run a process: kwok only writes their status, so Ray itself is never
reachable (the operator's calls to a dashboard fail and it retries).

Pod IPs are on loopback, so when the operator calls a head pod directly (the RayService controller checks the
serve proxy on the pod's IP) the connection stays on this machine. The endpoints controllers are off because
Endpoints and EndpointSlices refuse loopback addresses; nothing here reads them.
"""

from __future__ import annotations

import atexit
import json
import os
import pathlib
import secrets
import ssl
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any

from tests.support.kube_apiserver import ADMIN_USER, RealKubeApiServer, _die_with_parent, _free_port, _tail
from tests.support.tools import REPO_ROOT, cache_bin_dir, pin

BUILD_SCRIPT = REPO_ROOT / "hack" / "build-control-plane.sh"
STAGES = REPO_ROOT / "tests" / "data" / "kwok" / "stages.yaml"

# Users the components authenticate as. kube-scheduler and kube-controller-manager get the roles Kubernetes'
# bootstrap RBAC binds to these names; the controller-manager then runs each controller as its own service
# account, as kubeadm sets it up. kwok and the operator are cluster admins.
SCHEDULER_USER = "system:kube-scheduler"
CONTROLLER_MANAGER_USER = "system:kube-controller-manager"
OPERATOR_USER = "kuberay-operator"
KWOK_USER = "kwok"

# kwok manages only nodes carrying this annotation.
KWOK_ANNOTATION = ("kwok.x-k8s.io/node", "fake")
NODE_CAPACITY = {
    "cpu": "64",
    "memory": "512Gi",
    "ephemeral-storage": "1Ti",
    "pods": "110",
    "nvidia.com/gpu": "8",
}
# kwok hands out pod IPs from this range (see the module docstring).
POD_CIDR = "127.42.0.0/16"
PROBE_NAMESPACE = "control-plane-probe"


def binary_names() -> dict[str, str]:
    """File names in the cache, versions included (a pin bump means a new file, hence a rebuild)."""
    kube = pin("KUBE_VERSION")
    return {
        "kube-scheduler": f"kube-scheduler-{kube}",
        "kube-controller-manager": f"kube-controller-manager-{kube}",
        "kuberay-operator": f"kuberay-operator-{pin('KUBERAY_VERSION')}",
        "kwok": f"kwok-{pin('KWOK_VERSION')}",
    }


def find_control_plane_binaries() -> dict[str, pathlib.Path] | None:
    """The four binaries beyond kube-apiserver's: ``KUBERAY_TEST_<NAME>`` overrides, else the cached builds."""
    found: dict[str, pathlib.Path] = {}
    for name, file_name in binary_names().items():
        override = os.environ.get("KUBERAY_TEST_" + name.upper().replace("-", "_"))
        path = pathlib.Path(override) if override else cache_bin_dir() / file_name
        if not (path.is_file() and os.access(path, os.X_OK)):
            return None
        found[name] = path
    return found


def probe_cluster(namespace: str, name: str) -> dict[str, Any]:
    """A small RayCluster whose worker asks for a GPU: ready only when scheduling, kwok and the operator work."""

    def container(name: str, gpus: int = 0) -> dict[str, Any]:
        limits = {"cpu": "1", "memory": "1Gi", **({"nvidia.com/gpu": str(gpus)} if gpus else {})}
        return {"name": name, "image": "rayproject/ray:2.46.0", "resources": {"limits": limits}}

    return {
        "apiVersion": "ray.io/v1",
        "kind": "RayCluster",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "rayVersion": "2.46.0",
            "headGroupSpec": {
                "rayStartParams": {},
                "template": {"spec": {"containers": [container("ray-head")]}},
            },
            "workerGroupSpecs": [
                {
                    "groupName": "gpu",
                    "replicas": 1,
                    "minReplicas": 1,
                    "maxReplicas": 1,
                    "rayStartParams": {},
                    "template": {"spec": {"containers": [container("ray-worker", gpus=1)]}},
                }
            ],
        },
    }


class ControlPlane:
    """The operator tier: a :class:`RealKubeApiServer` plus scheduler, controller-manager, kwok and operator.

    ``timings`` holds seconds per start-up phase; ``logs`` names each component's log file.
    """

    def __init__(self, workdir: pathlib.Path, crd_dir: pathlib.Path, nodes: int = 2) -> None:
        self.workdir = pathlib.Path(workdir)
        self.nodes = [f"kwok-node-{i}" for i in range(nodes)]
        self.kube = RealKubeApiServer(self.workdir / "kube-apiserver", crd_dir)
        self.kube.add_token(SCHEDULER_USER, secrets.token_urlsafe(24))
        self.kube.add_token(CONTROLLER_MANAGER_USER, secrets.token_urlsafe(24))
        self.kube.add_token(OPERATOR_USER, secrets.token_urlsafe(24), ["system:masters"])
        self.kube.add_token(KWOK_USER, secrets.token_urlsafe(24), ["system:masters"])
        self._procs: dict[str, subprocess.Popen[bytes]] = {}
        self.logs: dict[str, pathlib.Path] = {}
        self.timings: dict[str, float] = {}
        self._operator_probe_port = 0

    # -- lifecycle -------------------------------------------------------------------------------------

    def start(self, timeout: float = 240) -> None:
        """Starts everything and returns once a probe RayCluster became ready (then deletes the probe).

        On failure everything is stopped and the error carries the tails of the components' logs.
        """
        binaries = find_control_plane_binaries()
        if binaries is None:
            raise RuntimeError(f"control-plane binaries not found: run {BUILD_SCRIPT}")
        started = time.monotonic()
        deadline = started + timeout
        atexit.register(self.stop)
        try:
            self.kube.start(timeout=max(1.0, deadline - time.monotonic()))
            self.timings["kube-apiserver"] = time.monotonic() - started
            phase = time.monotonic()
            self._start_components(binaries)
            self._create_nodes()
            self._wait("fake nodes Ready", self._nodes_ready, deadline)
            self._wait("operator /readyz", self._operator_ready, deadline)
            self.timings["components"] = time.monotonic() - phase
            phase = time.monotonic()
            self._probe(deadline)
            self.timings["probe"] = time.monotonic() - phase
        except BaseException as exc:
            logs = self.log_tails()
            self.stop()
            if isinstance(exc, Exception):
                raise RuntimeError(f"control plane start failed: {exc}\n{logs}") from exc
            raise
        self.timings["total"] = time.monotonic() - started

    def stop(self) -> None:
        """Stops the components (operator first), then kube-apiserver and etcd. Safe to call more than once."""
        for name in reversed(list(self._procs)):
            proc = self._procs.pop(name)
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(timeout=15)
        self.kube.stop()
        atexit.unregister(self.stop)

    def __enter__(self) -> ControlPlane:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def dead_components(self) -> dict[str, int]:
        """Components that exited, with their exit codes (a healthy control plane has none)."""
        return {name: code for name, proc in self._procs.items() if (code := proc.poll()) is not None}

    def log_tails(self, lines: int = 30) -> str:
        paths = {
            **self.logs,
            "etcd": self.kube.workdir / "etcd.log",
            "apiserver": self.kube.workdir / "apiserver.log",
        }
        return "\n".join(
            f"--- tail of {name} ({path}) ---\n{_tail(path, lines)}"
            for name, path in paths.items()
            if path.exists()
        )

    # -- reading the cluster ---------------------------------------------------------------------------

    def get(self, path: str) -> dict[str, Any] | None:
        """GET an API path as admin; None when it does not exist."""
        request = urllib.request.Request(self.kube.url + path)
        request.add_header("Authorization", f"Bearer {self.kube.token_for(ADMIN_USER)}")
        context = ssl.create_default_context(cafile=str(self.kube.workdir / "pki" / "ca.crt"))
        try:
            with urllib.request.urlopen(request, timeout=10, context=context) as response:
                body: dict[str, Any] = json.loads(response.read())
                return body
        except urllib.error.HTTPError as exc:
            if exc.code == 404:
                return None
            raise

    # -- internals -------------------------------------------------------------------------------------

    def _start_components(self, binaries: dict[str, pathlib.Path]) -> None:
        pki = self.kube.workdir / "pki"
        self._spawn(
            "kube-controller-manager",
            [
                str(binaries["kube-controller-manager"]),
                f"--kubeconfig={self.kube.kubeconfig_for(CONTROLLER_MANAGER_USER)}",
                "--use-service-account-credentials=true",
                f"--service-account-private-key-file={pki / 'sa.key'}",
                f"--root-ca-file={pki / 'ca.crt'}",
                "--controllers=*,-endpoints-controller,-endpointslice-controller,-endpointslice-mirroring-controller",
                "--leader-elect=false",
                # No HTTPS endpoint: nothing scrapes it, and fixed default ports would collide across runs.
                "--secure-port=0",
                "--v=1",
            ],
        )
        self._spawn(
            "kube-scheduler",
            [
                str(binaries["kube-scheduler"]),
                f"--kubeconfig={self.kube.kubeconfig_for(SCHEDULER_USER)}",
                "--leader-elect=false",
                "--secure-port=0",
                "--v=1",
            ],
        )
        self._spawn(
            "kwok",
            [
                str(binaries["kwok"]),
                f"--kubeconfig={self.kube.kubeconfig_for(KWOK_USER)}",
                f"--config={STAGES}",
                "--manage-all-nodes=false",
                f"--manage-nodes-with-annotation-selector={KWOK_ANNOTATION[0]}={KWOK_ANNOTATION[1]}",
                "--node-ip=127.0.0.1",
                f"--cidr={POD_CIDR}",
                "--node-lease-duration-seconds=40",
            ],
            # kwok also reads ~/.kwok/kwok.yaml; a private HOME keeps a developer's own config out.
            env={"HOME": str(self.workdir / "kwok-home")},
        )
        self._operator_probe_port = _free_port()
        self._spawn(
            "kuberay-operator",
            [
                str(binaries["kuberay-operator"]),
                "--metrics-addr=0",
                f"--health-probe-bind-address=127.0.0.1:{self._operator_probe_port}",
                "--enable-leader-election=false",
                "--log-stdout-encoder=console",
            ],
            env={"KUBECONFIG": str(self.kube.kubeconfig_for(OPERATOR_USER))},
        )

    def _spawn(self, name: str, args: list[str], env: dict[str, str] | None = None) -> None:
        log_path = self.workdir / f"{name}.log"
        self.logs[name] = log_path
        if env and "HOME" in env:
            pathlib.Path(env["HOME"]).mkdir(parents=True, exist_ok=True)
        # Only from the main thread: the parent-death signal fires when the spawning *thread* exits.
        preexec = _die_with_parent if threading.current_thread() is threading.main_thread() else None
        with open(log_path, "wb") as log:
            self._procs[name] = subprocess.Popen(
                args,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
                preexec_fn=preexec,
                env={**os.environ, **(env or {})},
            )

    def _create_nodes(self) -> None:
        items = [
            {
                "apiVersion": "v1",
                "kind": "Node",
                "metadata": {
                    "name": name,
                    "annotations": {KWOK_ANNOTATION[0]: KWOK_ANNOTATION[1]},
                    "labels": {
                        "kubernetes.io/hostname": name,
                        "kubernetes.io/os": "linux",
                        "kubernetes.io/arch": "amd64",
                        "type": "kwok",
                    },
                },
                # The API server keeps a new node's status, so capacity is declared here; kwok adds the rest.
                "status": {"capacity": NODE_CAPACITY, "allocatable": NODE_CAPACITY},
            }
            for name in self.nodes
        ]
        self.kube.kubectl(
            "create",
            "-f",
            "-",
            input=json.dumps({"apiVersion": "v1", "kind": "List", "items": items}),
            check=True,
        )

    def _nodes_ready(self) -> bool:
        nodes = (self.get("/api/v1/nodes") or {}).get("items") or []
        ready = {
            node["metadata"]["name"]
            for node in nodes
            for condition in (node.get("status") or {}).get("conditions") or []
            if condition.get("type") == "Ready" and condition.get("status") == "True"
        }
        return ready >= set(self.nodes)

    def _operator_ready(self) -> bool:
        try:
            with urllib.request.urlopen(
                f"http://127.0.0.1:{self._operator_probe_port}/readyz", timeout=2
            ) as r:
                return bool(r.status == 200)
        except (urllib.error.URLError, OSError):
            return False

    def _probe(self, deadline: float) -> None:
        """A RayCluster must become ready: proof that every component plays its part."""
        self.kube.kubectl("create", "namespace", PROBE_NAMESPACE, check=True)
        name = "probe"
        self.kube.kubectl(
            "create", "-f", "-", input=json.dumps(probe_cluster(PROBE_NAMESPACE, name)), check=True
        )
        path = f"/apis/ray.io/v1/namespaces/{PROBE_NAMESPACE}/rayclusters/{name}"
        self._wait(
            "probe RayCluster ready",
            lambda: ((self.get(path) or {}).get("status") or {}).get("state") == "ready",
            deadline,
        )
        # Not waited for: the garbage collector removes the probe's pods in the background.
        self.kube.kubectl("delete", "raycluster", name, "-n", PROBE_NAMESPACE, "--wait=false", check=True)

    def _wait(self, what: str, ready: Callable[[], bool], deadline: float) -> None:
        """Polls ``ready`` until it is true; fails early when a component dies."""
        while time.monotonic() < deadline:
            if dead := self.dead_components():
                raise RuntimeError(f"{what}: component(s) exited: {dead}")
            try:
                if ready():
                    return
            except (urllib.error.URLError, OSError, ValueError):
                pass
            time.sleep(0.25)
        raise TimeoutError(f"{what}: not reached before the timeout")


__all__ = ["ControlPlane", "find_control_plane_binaries", "probe_cluster"]
