"""Reaching a Ray cluster's dashboard: where it answers, with which token, within a bounded time.

Where, in order:

1. the ``dashboard_urls`` setting: ``NAMESPACE/CLUSTER=URL`` entries (``*`` matches anything; the URL may contain
   ``{namespace}`` and ``{cluster}``), for a dashboard reached some other way (a local ``ray start --head``, a
   port-forward, an ingress);
2. when the service runs in a pod of the cluster: the head service's cluster DNS name,
   ``http://<head service>.<namespace>.svc.cluster.local:<dashboard port>`` (upstream's only way);
3. otherwise through the Kubernetes API's service proxy, as the caller
   (``/api/v1/namespaces/<ns>/services/<head service>:dashboard/proxy/...``), so a caller needs the right to
   proxy to the head service (``services/proxy``), as with ``kubectl proxy``.

A cluster with token authentication (``spec.authOptions.mode: token``) keeps its token in a Secret that the
operator names after the cluster (or ``spec.authOptions.secretName``), under the key ``auth_token``. It is read as
the caller and sent as ``X-Ray-Authorization: Bearer <token>``: Ray's dashboard accepts that header as well as
``Authorization``, and unlike ``Authorization`` it passes the Kubernetes API's proxy untouched. The token is never
logged nor returned.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import dataclasses
import fnmatch
from typing import Any

import aiohttp
import msgspec

from service.errors import FailedPreconditionError, UnavailableError
from service.kube.client import KubeClient, Obj
from service.kube.errors import KubeError, KubeNotFoundError
from service.managers.kube_errors import api_error
from service.settings import parse_dashboard_urls as parse_overrides
from service.vocabulary import SECRETS

DASHBOARD_PORT = 8265
DASHBOARD_PORT_NAME = "dashboard"
TOKEN_KEY = "auth_token"
TOKEN_HEADER = "X-Ray-Authorization"
# The operator shortens long cluster names the same way for the Secret it mounts (names over 50 characters lose
# their start; a leading digit or punctuation becomes "r").
_NAME_MAX = 50


class Token:
    """A secret that never prints itself."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Token(***)"

    __str__ = __repr__


@dataclasses.dataclass(frozen=True)
class Target:
    """One cluster's dashboard: how to call it."""

    namespace: str
    cluster: str
    base_url: str = ""
    """Direct HTTP base URL (override or cluster DNS); empty when going through the Kubernetes API."""
    proxy_service: str = ""
    """``<head service>:dashboard`` when going through the Kubernetes API's service proxy."""
    token: Token | None = None

    @property
    def where(self) -> str:
        if self.base_url:
            return self.base_url
        return f"the Kubernetes API's proxy to service {self.namespace}/{self.proxy_service}"


class Answer(msgspec.Struct, frozen=True):
    status: int
    body: bytes

    def json(self) -> Any:
        try:
            return msgspec.json.decode(self.body) if self.body else None
        except msgspec.DecodeError:
            return None

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace").strip()


def head_service_name(cluster: Obj) -> str:
    """The head service as the operator names it: from the status once known, else the spec, else the default."""
    name = str((cluster.get("metadata") or {}).get("name") or "")
    status_name = ((cluster.get("status") or {}).get("head") or {}).get("serviceName")
    if status_name:
        return str(status_name)
    spec_name = (((cluster.get("spec") or {}).get("headGroupSpec") or {}).get("headService") or {}).get(
        "metadata", {}
    )
    if isinstance(spec_name, dict) and spec_name.get("name"):
        return str(spec_name["name"])
    return f"{name}-head-svc"


def token_secret_name(cluster: Obj) -> str:
    options = (cluster.get("spec") or {}).get("authOptions") or {}
    if options.get("secretName"):
        return str(options["secretName"])
    name = str((cluster.get("metadata") or {}).get("name") or "")
    if len(name) > _NAME_MAX:
        name = name[len(name) - _NAME_MAX :]
    if name and (name[0].isdigit() or not name[0].isalnum()):
        name = "r" + name[1:]
    return name


def token_auth_on(cluster: Obj) -> bool:
    options = (cluster.get("spec") or {}).get("authOptions") or {}
    return str(options.get("mode") or "") == "token"


class Dashboards:
    """Finds a cluster's dashboard and calls it."""

    def __init__(self, kube: KubeClient, overrides: str, in_pod: bool, timeout: float) -> None:
        self.kube = kube
        self.overrides = parse_overrides(overrides)
        self.in_pod = in_pod
        self.timeout = timeout
        self._session_obj: aiohttp.ClientSession | None = None

    def _session(self) -> aiohttp.ClientSession:
        if self._session_obj is None:
            self._session_obj = aiohttp.ClientSession(trust_env=False)
        return self._session_obj

    async def close(self) -> None:
        if self._session_obj is not None:
            await self._session_obj.close()

    def override_for(self, namespace: str, cluster: str) -> str:
        for ns_pattern, cluster_pattern, url in self.overrides:
            if fnmatch.fnmatchcase(namespace, ns_pattern) and fnmatch.fnmatchcase(cluster, cluster_pattern):
                return url.replace("{namespace}", namespace).replace("{cluster}", cluster)
        return ""

    async def target(self, cluster: Obj) -> Target:
        """Where the dashboard of ``cluster`` (the RayCluster object) answers, with its token if it needs one."""
        metadata = cluster.get("metadata") or {}
        namespace, name = str(metadata.get("namespace") or ""), str(metadata.get("name") or "")
        token = await self._token(cluster) if token_auth_on(cluster) else None
        url = self.override_for(namespace, name)
        if url:
            return Target(namespace, name, base_url=url, token=token)
        service = head_service_name(cluster)
        if self.in_pod:
            port = _dashboard_port(cluster)
            return Target(
                namespace,
                name,
                base_url=f"http://{service}.{namespace}.svc.cluster.local:{port}",
                token=token,
            )
        return Target(namespace, name, proxy_service=f"{service}:{DASHBOARD_PORT_NAME}", token=token)

    async def _token(self, cluster: Obj) -> Token:
        metadata = cluster.get("metadata") or {}
        namespace, name = str(metadata.get("namespace") or ""), str(metadata.get("name") or "")
        secret_name = token_secret_name(cluster)
        context = f"reading the Ray auth token of cluster {namespace}/{name} from Secret {secret_name}"
        try:
            secret = await self.kube.get(SECRETS, namespace, secret_name)
        except KubeNotFoundError:
            raise FailedPreconditionError(
                f"cluster {namespace}/{name} has token authentication on, but its Secret {namespace}/{secret_name} "
                "does not exist yet (the operator creates it; or set spec.authOptions.secretName)"
            ) from None
        except KubeError as exc:
            raise api_error(exc, context) from None
        encoded = (secret.get("data") or {}).get(TOKEN_KEY)
        try:
            value = base64.b64decode(str(encoded or ""), validate=True).decode().strip()
        except (binascii.Error, UnicodeDecodeError):
            value = ""
        if not value:
            raise FailedPreconditionError(
                f"Secret {namespace}/{secret_name} has no key {TOKEN_KEY!r} holding the Ray auth token of cluster "
                f"{namespace}/{name}"
            )
        return Token(value)

    async def call(self, target: Target, method: str, path: str, body: Any = None) -> Answer:
        """One dashboard call (``path`` like ``/api/jobs/``); any HTTP answer is returned, no answer is a 503."""
        data = msgspec.json.encode(body) if body is not None else None
        if not target.base_url:
            return await self._through_kube(target, method, path, data)
        headers = {"Accept": "application/json"}
        if data is not None:
            headers["Content-Type"] = "application/json"
        if target.token is not None:
            headers[TOKEN_HEADER] = f"Bearer {target.token.reveal()}"
        try:
            async with asyncio.timeout(self.timeout):
                async with self._session().request(
                    method, target.base_url + path, data=data, headers=headers
                ) as response:
                    return Answer(response.status, await response.read())
        except TimeoutError:
            raise UnavailableError(
                f"the Ray dashboard of cluster {target.namespace}/{target.cluster} at {target.where} did not "
                f"answer within {self.timeout:g}s"
            ) from None
        except (aiohttp.ClientError, OSError) as exc:
            raise UnavailableError(
                f"the Ray dashboard of cluster {target.namespace}/{target.cluster} at {target.where} is "
                f"unreachable: {type(exc).__name__}"
            ) from None

    async def _through_kube(self, target: Target, method: str, path: str, data: bytes | None) -> Answer:
        # The token travels in its own header; the Kubernetes API authenticates the service by its own.
        try:
            status, raw = await self.kube.proxy(
                target.namespace,
                target.proxy_service,
                path,
                method,
                data,
                self.timeout,
                extra_headers={TOKEN_HEADER: f"Bearer {target.token.reveal()}"} if target.token else None,
            )
        except KubeError as exc:
            raise UnavailableError(
                f"the Ray dashboard of cluster {target.namespace}/{target.cluster} through {target.where}: "
                f"{exc.message}"
            ) from None
        said = _kubernetes_status(raw) if status in (404, 503) else None
        if said is None:
            return Answer(status, raw)
        # Kubernetes' own answer, not the dashboard's: the head is not reachable.
        cluster = f"{target.namespace}/{target.cluster}"
        if status == 503 and "no endpoints available" in said:
            raise UnavailableError(
                f"the Ray dashboard of cluster {cluster} has no running head pod behind service "
                f"{target.proxy_service}"
            )
        if status == 404:
            # Also what kube-apiserver says of a Service that has no Endpoints object at all.
            raise UnavailableError(
                f"the Ray dashboard of cluster {cluster} cannot be reached: Kubernetes found no service "
                f"{target.proxy_service} (or no endpoints of it) to proxy to"
            )
        # Typically "error trying to reach service: dial tcp ...": the head pod is there but does not answer.
        raise UnavailableError(
            f"the Ray dashboard of cluster {cluster} cannot be reached through {target.where}: {said}"
        )


def _kubernetes_status(raw: bytes) -> str | None:
    """The message of a Status of the Kubernetes API (which a Ray dashboard never answers), else None."""
    try:
        document = msgspec.json.decode(raw)
    except msgspec.DecodeError:
        return None
    if isinstance(document, dict) and document.get("kind") == "Status" and document.get("apiVersion") == "v1":
        return str(document.get("message") or "")
    return None


def _dashboard_port(cluster: Obj) -> int:
    endpoints = (cluster.get("status") or {}).get("endpoints") or {}
    try:
        return int(str(endpoints.get(DASHBOARD_PORT_NAME) or DASHBOARD_PORT))
    except ValueError:
        return DASHBOARD_PORT
