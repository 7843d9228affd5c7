"""Run a real etcd + kube-apiserver on loopback for tests.

Binaries come from ``hack/build-kube-apiserver.sh`` (built from Go modules into the user cache). Only the
API server runs: no controller-manager, scheduler or kubelet, so pods never start, service-account tokens
are never minted and namespaces never finish terminating. Tests must therefore never wait on namespace
deletion; they use fresh namespaces instead and drop everything when the server stops.
(``tests/support/control_plane.py`` adds the rest of a control plane and the KubeRay operator.)
"""

from __future__ import annotations

import atexit
import base64
import contextlib
import ctypes
import functools
import json
import os
import pathlib
import re
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from types import TracebackType

import yaml

from tests.support.tls import make_certificates
from tests.support.tools import cache_bin_dir, pin

REPO_ROOT = pathlib.Path(__file__).resolve().parents[2]
BUILD_SCRIPT = REPO_ROOT / "hack" / "build-kube-apiserver.sh"
ADMIN_USER = "admin"
ETCD_DIR_PREFIX = "kuberay-test-etcd-"  # + "<pid of the test process>-<random>"

# Environment overrides, e.g. to try another build without touching the cache.
ENV_KUBE_APISERVER = "KUBERAY_TEST_KUBE_APISERVER"
ENV_KUBECTL = "KUBERAY_TEST_KUBECTL"
ENV_ETCD = "KUBERAY_TEST_ETCD"


def pinned_kube_version() -> str:
    return pin("KUBE_VERSION")


def _executable(path: pathlib.Path | str | None) -> pathlib.Path | None:
    if path and os.access(path, os.X_OK) and pathlib.Path(path).is_file():
        return pathlib.Path(path)
    return None


def _find_one(env: str, cached_name: str | None, path_name: str | None) -> pathlib.Path | None:
    if os.environ.get(env):
        return _executable(os.environ[env])
    if cached_name and (found := _executable(cache_bin_dir() / cached_name)):
        return found
    return _executable(shutil.which(path_name)) if path_name else None


def find_binaries() -> tuple[pathlib.Path, pathlib.Path, pathlib.Path] | None:
    """Returns (kube-apiserver, kubectl, etcd): env override, else the cached build of the pin, else PATH.

    etcd never comes from PATH: that is Debian's 3.4, too old for kube-apiserver 1.34's watch cache.
    """
    kube_version = pinned_kube_version()
    etcd_version = pin("ETCD_VERSION")
    apiserver = _find_one(
        ENV_KUBE_APISERVER, f"kube-apiserver-{kube_version}" if kube_version else None, "kube-apiserver"
    )
    kubectl = _find_one(ENV_KUBECTL, f"kubectl-{kube_version}" if kube_version else None, "kubectl")
    etcd = _find_one(ENV_ETCD, f"etcd-{etcd_version}", None)
    if apiserver and kubectl and etcd:
        return apiserver, kubectl, etcd
    return None


def _free_port() -> int:
    # The port is released before the server binds it; the race is acceptable on a test machine.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _remove_stale_etcd_dirs(base: pathlib.Path) -> None:
    """Deletes etcd data dirs left by test runs that were killed (they would fill the RAM-backed /dev/shm)."""
    for path in base.glob(f"{ETCD_DIR_PREFIX}*-*"):
        pid = path.name.removeprefix(ETCD_DIR_PREFIX).split("-", 1)[0]
        if pid.isdigit() and not pathlib.Path(f"/proc/{pid}").exists():
            shutil.rmtree(path, ignore_errors=True)


def _die_with_parent() -> None:
    """Runs in the child before exec: on Linux, get SIGTERM when the test runner dies, even by SIGKILL."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # 1 = PR_SET_PDEATHSIG


def _tail(path: pathlib.Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError as exc:
        return f"<cannot read {path}: {exc}>"


def _without_proxies(env: Mapping[str, str]) -> dict[str, str]:
    """``env`` without HTTP proxy settings. kube-apiserver's service proxy honours them (only loopback is exempt),
    so on a machine with an HTTP_PROXY it would send the tests' requests for a pod's address to that proxy."""
    proxies = {"http_proxy", "https_proxy", "all_proxy", "no_proxy"}
    return {name: value for name, value in env.items() if name.lower() not in proxies}


def _write_pki(pki: pathlib.Path) -> None:
    """Writes ca.crt, server.crt/key (for 127.0.0.1 and localhost) and the service-account key sa.key/sa.pub.

    A separate CA (rather than one self-signed leaf) keeps strict verifiers happy: OpenSSL 3 and Go both
    accept a CA:TRUE root as trust anchor and a CA:FALSE leaf with SANs as the serving cert.
    """
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    make_certificates(pki, name="kube-apiserver", stem="server")
    # Service-account tokens are signed with RS256 by default, so this key must be RSA.
    sa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    (pki / "sa.key").write_bytes(
        sa_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    (pki / "sa.pub").write_bytes(
        sa_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )


class RealKubeApiServer:
    """etcd + kube-apiserver on free loopback ports, with the CRDs of ``crd_dir`` installed.

    Authentication is by static bearer tokens: ``admin`` (group system:masters) plus users registered with
    :meth:`add_token` before :meth:`start`. Authorization is RBAC, so those users can do nothing until a test
    grants them roles.
    """

    def __init__(self, workdir: pathlib.Path, crd_dir: pathlib.Path) -> None:
        self.workdir = pathlib.Path(workdir)
        self.crd_dir = pathlib.Path(crd_dir)
        self._tokens: dict[str, tuple[str, list[str]]] = {
            ADMIN_USER: (base64.urlsafe_b64encode(os.urandom(24)).decode().rstrip("="), ["system:masters"])
        }
        self._etcd: subprocess.Popen[bytes] | None = None
        self._apiserver: subprocess.Popen[bytes] | None = None
        self._etcd_data: pathlib.Path | None = None
        self._port: int | None = None
        self._binaries: tuple[pathlib.Path, pathlib.Path, pathlib.Path] | None = None
        # Seconds per start-up phase (etcd, apiserver, crds, total), for reports.
        self.timings: dict[str, float] = {}

    # -- configuration ---------------------------------------------------------------------------------

    def add_token(self, user: str, token: str, groups: Sequence[str] = ()) -> None:
        """Registers a bearer token. kube-apiserver reads the token file once, hence only before start()."""
        if self._apiserver is not None:
            raise RuntimeError("add_token() must be called before start()")
        if not re.fullmatch(r"[A-Za-z0-9._~+/=-]+", token) or any("," in g or '"' in g for g in groups):
            raise ValueError("token must be a plain bearer token and groups must not contain ',' or '\"'")
        self._tokens[user] = (token, list(groups))

    @property
    def url(self) -> str:
        if self._port is None:
            raise RuntimeError("server not started")
        return f"https://127.0.0.1:{self._port}"

    @property
    def kubeconfig(self) -> pathlib.Path:
        """Admin kubeconfig (system:masters token; CA embedded)."""
        return self.kubeconfig_for(ADMIN_USER)

    def token_for(self, user: str) -> str:
        return self._tokens[user][0]

    def kubeconfig_for(self, user: str) -> pathlib.Path:
        """Writes (once) and returns a kubeconfig that authenticates with ``user``'s token."""
        if user not in self._tokens:
            raise KeyError(f"no token for user {user!r}; call add_token() before start()")
        # ':' separates kubeconfig paths in KUBECONFIG-style lists, and service account users contain it.
        path = self.workdir / f"kubeconfig-{user.replace(':', '_')}.yaml"
        if not path.exists():
            ca = (self.workdir / "pki" / "ca.crt").read_bytes()
            config = {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [
                    {
                        "name": "test",
                        "cluster": {
                            "server": self.url,
                            "certificate-authority-data": base64.b64encode(ca).decode(),
                        },
                    }
                ],
                "users": [{"name": user, "user": {"token": self.token_for(user)}}],
                "contexts": [{"name": "test", "context": {"cluster": "test", "user": user}}],
                "current-context": "test",
            }
            path.write_text(yaml.safe_dump(config, sort_keys=False))
            path.chmod(0o600)
        return path

    # -- lifecycle -------------------------------------------------------------------------------------

    def start(self, timeout: float = 120) -> None:
        """Starts etcd and kube-apiserver, installs the CRDs and waits until they are Established.

        On failure both processes are stopped and the error carries the tails of their logs.
        """
        if self._apiserver is not None:
            raise RuntimeError("already started")
        binaries = find_binaries()
        if binaries is None:
            raise RuntimeError(f"kube-apiserver/kubectl/etcd not found: run {BUILD_SCRIPT}")
        self._binaries = binaries
        apiserver_bin, _, etcd_bin = binaries
        crds = sorted([*self.crd_dir.glob("*.yaml"), *self.crd_dir.glob("*.yml")])
        if not crds:
            raise RuntimeError(f"no CRD yaml files in {self.crd_dir}")

        self.workdir.mkdir(parents=True, exist_ok=True)
        # After a stop(), a restart gets new ports and a new CA: kubeconfigs from the last run are stale.
        for stale in self.workdir.glob("kubeconfig-*.yaml"):
            stale.unlink()
        deadline = time.monotonic() + timeout
        started = time.monotonic()
        # A forgotten stop() must not leave etcd and kube-apiserver running after the interpreter exits.
        atexit.register(self.stop)
        try:
            _write_pki(self.workdir / "pki")
            self._write_token_file()
            etcd_url = self._start_etcd(etcd_bin, deadline)
            self.timings["etcd"] = time.monotonic() - started
            self._start_apiserver(apiserver_bin, etcd_url, deadline)
            self.timings["apiserver"] = time.monotonic() - started - self.timings["etcd"]
            crd_started = time.monotonic()
            self._install_crds(crds, deadline)
            self.timings["crds"] = time.monotonic() - crd_started
        except BaseException as exc:
            logs = "\n".join(
                f"--- tail of {name} ---\n{_tail(self.workdir / name)}"
                for name in ("etcd.log", "apiserver.log")
                if (self.workdir / name).exists()
            )
            self.stop()
            if isinstance(exc, Exception):
                raise RuntimeError(f"kube-apiserver start failed: {exc}\n{logs}") from exc
            raise
        self.timings["total"] = time.monotonic() - started

    def stop(self) -> None:
        """Stops kube-apiserver, then etcd, and removes etcd's data. Safe to call more than once."""
        for proc in (self._apiserver, self._etcd):
            if proc is None or proc.poll() is not None:
                continue
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=15)
        self._apiserver = self._etcd = None
        atexit.unregister(self.stop)
        if self._etcd_data is not None:
            shutil.rmtree(self._etcd_data, ignore_errors=True)
            self._etcd_data = None

    def __enter__(self) -> RealKubeApiServer:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # -- kubectl ---------------------------------------------------------------------------------------

    def kubectl(
        self,
        *args: str,
        user: str | None = None,
        input: str | None = None,
        check: bool = False,
        timeout: float = 120,
    ) -> subprocess.CompletedProcess[str]:
        """Runs kubectl against this server as ``user`` (default admin); output is captured as text."""
        if self._binaries is None:
            raise RuntimeError("server not started")
        kubeconfig = self.kubeconfig_for(user or ADMIN_USER)
        return subprocess.run(
            [str(self._binaries[1]), f"--kubeconfig={kubeconfig}", *args],
            input=input,
            capture_output=True,
            text=True,
            check=check,
            timeout=timeout,
        )

    # -- internals -------------------------------------------------------------------------------------

    def _write_token_file(self) -> None:
        # Static token file format: token,user,uid,"group1,group2"
        lines = [
            f'{token},{user},{user},"{",".join(groups)}"' for user, (token, groups) in self._tokens.items()
        ]
        path = self.workdir / "tokens.csv"
        path.write_text("\n".join(lines) + "\n")
        path.chmod(0o600)

    def _start_etcd(self, etcd_bin: pathlib.Path, deadline: float) -> str:
        client_port, peer_port = _free_port(), _free_port()
        # The data is throwaway: on tmpfs, and without fsyncs.
        shm = pathlib.Path("/dev/shm")
        base = shm if shm.is_dir() and os.access(shm, os.W_OK) else self.workdir
        _remove_stale_etcd_dirs(base)
        self._etcd_data = pathlib.Path(tempfile.mkdtemp(prefix=f"{ETCD_DIR_PREFIX}{os.getpid()}-", dir=base))
        client_url, peer_url = f"http://127.0.0.1:{client_port}", f"http://127.0.0.1:{peer_port}"
        args = [
            str(etcd_bin),
            "--name=test",
            f"--data-dir={self._etcd_data}",
            f"--listen-client-urls={client_url}",
            f"--advertise-client-urls={client_url}",
            f"--listen-peer-urls={peer_url}",
            f"--initial-advertise-peer-urls={peer_url}",
            f"--initial-cluster=test={peer_url}",
            "--unsafe-no-fsync",
            "--logger=zap",
            "--log-level=warn",
        ]
        self._etcd = self._spawn(args, "etcd.log")
        # etcd answers /health with {"health":"true"} once it has elected itself leader.
        self._wait(
            lambda: b'"true"' in self._get(f"{client_url}/health", None),
            self._etcd,
            "etcd /health",
            deadline,
        )
        return client_url

    def _start_apiserver(self, apiserver_bin: pathlib.Path, etcd_url: str, deadline: float) -> None:
        self._port = _free_port()
        pki = self.workdir / "pki"
        args = [
            str(apiserver_bin),
            f"--etcd-servers={etcd_url}",
            "--bind-address=127.0.0.1",
            "--advertise-address=127.0.0.1",
            f"--secure-port={self._port}",
            f"--tls-cert-file={pki / 'server.crt'}",
            f"--tls-private-key-file={pki / 'server.key'}",
            # Otherwise it writes self-signed certs to /var/run/kubernetes.
            f"--cert-dir={pki}",
            f"--token-auth-file={self.workdir / 'tokens.csv'}",
            "--authorization-mode=RBAC",
            f"--service-account-key-file={pki / 'sa.pub'}",
            f"--service-account-signing-key-file={pki / 'sa.key'}",
            "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
            # Only a flag value: nothing routes to it.
            "--service-cluster-ip-range=10.96.0.0/12",
            # No controller-manager mints service-account tokens, so pods would be rejected by this plugin.
            "--disable-admission-plugins=ServiceAccount",
            # Nobody else talks to this apiserver: keep the default/kubernetes endpoints out of the way.
            "--endpoint-reconciler-type=none",
            "--profiling=false",
            # Compact etcd often, so continue tokens and resourceVersions really expire (410 Gone) within a test.
            "--etcd-compaction-interval=1s",
            "--v=1",
        ]
        self._apiserver = self._spawn(args, "apiserver.log")
        token = self.token_for(ADMIN_USER)
        self._wait(
            lambda: self._get(f"{self.url}/readyz", token) == b"ok",
            self._apiserver,
            "kube-apiserver /readyz",
            deadline,
        )

    def _install_crds(self, crds: list[pathlib.Path], deadline: float) -> None:
        files = [arg for crd in crds for arg in ("-f", str(crd))]
        # `create`, not client-side `apply`: the CRDs exceed the 256 KiB last-applied annotation limit.
        result = self.kubectl("create", "-o", "name", *files, timeout=max(1.0, deadline - time.monotonic()))
        if result.returncode != 0:
            raise RuntimeError(f"kubectl create of the CRDs failed: {result.stderr.strip()}")
        # Polled by the created names rather than `kubectl wait -f`: nothing parses megabytes of YAML twice, and
        # `kubectl wait` fails outright on a CRD whose status has no conditions yet.
        token = self.token_for(ADMIN_USER)
        for name in result.stdout.split():
            crd = name.split("/", 1)[1]
            self._wait(
                functools.partial(self._crd_servable, crd, token), self._apiserver, f"CRD {crd}", deadline
            )

    def _crd_servable(self, crd: str, token: str) -> bool:
        """True once ``crd`` is Established and its resource lists.

        Established is not yet servable: until the resource's watch cache has initialized the server answers 429
        "storage is (re)initializing" (on etcd >= 3.5 lists are served from that cache).
        """
        try:
            obj = json.loads(
                self._get(f"{self.url}/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{crd}", token)
            )
        except ValueError:
            return False
        conditions = (obj.get("status") or {}).get("conditions") or []
        if not any(c.get("type") == "Established" and c.get("status") == "True" for c in conditions):
            return False
        spec = obj["spec"]
        version = next(v["name"] for v in spec["versions"] if v.get("storage"))
        listed = self._get(
            f"{self.url}/apis/{spec['group']}/{version}/{spec['names']['plural']}?limit=1", token
        )
        return b'"items"' in listed

    def _spawn(self, args: list[str], log_name: str) -> subprocess.Popen[bytes]:
        # Only from the main thread: the parent-death signal fires when the spawning *thread* exits.
        preexec = _die_with_parent if threading.current_thread() is threading.main_thread() else None
        with open(self.workdir / log_name, "wb") as log:
            # Own session: a Ctrl-C in the test runner reaches us first, and stop() ends the process cleanly.
            return subprocess.Popen(
                args,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
                preexec_fn=preexec,
                env=_without_proxies(os.environ),
            )

    def _get(self, url: str, token: str | None) -> bytes:
        """GET returning the body, or b"" on any error (used for polling)."""
        request = urllib.request.Request(url)
        if token:
            request.add_header("Authorization", f"Bearer {token}")
        context = None
        if url.startswith("https:"):
            context = ssl.create_default_context(cafile=str(self.workdir / "pki" / "ca.crt"))
        try:
            with urllib.request.urlopen(request, timeout=5, context=context) as response:
                return bytes(response.read())
        except (urllib.error.URLError, OSError, ValueError):
            return b""

    @staticmethod
    def _wait(
        ready: Callable[[], bool], proc: subprocess.Popen[bytes] | None, what: str, deadline: float
    ) -> None:
        """Polls ``ready`` until it is true; fails early if ``proc`` dies."""
        assert proc is not None
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"{what}: process exited with code {proc.returncode}")
            if ready():
                return
            time.sleep(0.2)
        raise TimeoutError(f"{what}: not ready before the timeout")


__all__ = ["RealKubeApiServer", "find_binaries", "pinned_kube_version"]
