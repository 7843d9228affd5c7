"""The one place that talks to the Kubernetes API.

It wraps kubernetes_asyncio's typed APIs but asks for raw responses, so objects stay plain dicts (the converters
work on dicts) and every failure is translated into ``service.kube.errors``. Each call is bounded by a timeout and
a concurrency limit, and counted in the metrics when it fails.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
from kubernetes_asyncio import client, config, watch

from service.kube import labels
from service.kube.errors import KubeError, KubeUnavailableError
from service.metrics import KUBE_ERRORS

Obj = dict[str, Any]


async def load_configuration(kubeconfig: str = "", host: str = "") -> client.Configuration:
    """A client configuration for ``host`` (dev cluster), a kubeconfig file, ``KUBECONFIG`` or in-cluster."""
    cfg = client.Configuration()
    if host:
        cfg.host = host
        return cfg
    path = kubeconfig or os.environ.get("KUBECONFIG", "")
    if path:
        await config.load_kube_config(config_file=path, client_configuration=cfg)
        return cfg
    if os.environ.get("KUBERNETES_SERVICE_HOST"):
        config.load_incluster_config(client_configuration=cfg)
        return cfg
    default = Path.home() / ".kube" / "config"
    if default.exists():
        await config.load_kube_config(config_file=str(default), client_configuration=cfg)
        return cfg
    raise RuntimeError("no Kubernetes configuration: pass --kubeconfig, set KUBECONFIG, or use --dev-cluster")


class KubeClient:
    """Typed access to the handful of Kubernetes resources the service uses."""

    def __init__(
        self, configuration: client.Configuration, timeout: float = 15.0, concurrency: int = 32
    ) -> None:
        self._api = client.ApiClient(configuration=configuration)
        self._core = client.CoreV1Api(self._api)
        self._custom = client.CustomObjectsApi(self._api)
        self._events = client.EventsV1Api(self._api)
        self._version = client.VersionApi(self._api)
        self._timeout = timeout
        self._limit = asyncio.Semaphore(concurrency)

    async def close(self) -> None:
        await self._api.close()

    async def _call(
        self, operation: str, fn: Callable[..., Awaitable[Any]], *args: Any, **kwargs: Any
    ) -> Obj:
        """Run one API call and return its JSON body, translating failures."""
        try:
            async with self._limit, asyncio.timeout(self._timeout):
                response = await fn(*args, _preload_content=False, _request_timeout=self._timeout, **kwargs)
                try:
                    body = await response.read()
                finally:
                    response.release()
        except TimeoutError:
            KUBE_ERRORS.labels(operation=operation, reason="Timeout").inc()
            raise KubeUnavailableError(
                0, "Timeout", f"Kubernetes API did not answer within {self._timeout}s"
            ) from None
        except (aiohttp.ClientError, OSError) as exc:
            KUBE_ERRORS.labels(operation=operation, reason="Unreachable").inc()
            raise KubeUnavailableError(0, "Unreachable", f"Kubernetes API unreachable: {exc}") from None
        if not 200 <= response.status <= 299:
            error = KubeError.from_response(response.status, body)
            KUBE_ERRORS.labels(operation=operation, reason=error.reason or str(error.status)).inc()
            raise error
        result: Obj = json.loads(body) if body else {}
        return result

    # -- discovery ---------------------------------------------------------------------------------------------

    async def version(self) -> Obj:
        return await self._call("version", self._version.get_code)

    # -- ConfigMaps (compute templates) ------------------------------------------------------------------------

    async def get_configmap(self, namespace: str, name: str) -> Obj:
        return await self._call("get_configmap", self._core.read_namespaced_config_map, name, namespace)

    async def create_configmap(self, namespace: str, body: Obj) -> Obj:
        return await self._call("create_configmap", self._core.create_namespaced_config_map, namespace, body)

    async def delete_configmap(self, namespace: str, name: str) -> Obj:
        return await self._call("delete_configmap", self._core.delete_namespaced_config_map, name, namespace)

    async def list_configmaps(self, namespace: str | None, label_selector: str) -> list[Obj]:
        if namespace is None:
            result = await self._call(
                "list_configmaps",
                self._core.list_config_map_for_all_namespaces,
                label_selector=label_selector,
            )
        else:
            result = await self._call(
                "list_configmaps",
                self._core.list_namespaced_config_map,
                namespace,
                label_selector=label_selector,
            )
        items: list[Obj] = result.get("items") or []
        return items

    # -- Ray custom resources ----------------------------------------------------------------------------------

    async def create_ray(self, plural: str, namespace: str, body: Obj) -> Obj:
        return await self._call(
            f"create_{plural}",
            self._custom.create_namespaced_custom_object,
            labels.GROUP,
            labels.VERSION,
            namespace,
            plural,
            body,
        )

    async def get_ray(self, plural: str, namespace: str, name: str) -> Obj:
        return await self._call(
            f"get_{plural}",
            self._custom.get_namespaced_custom_object,
            labels.GROUP,
            labels.VERSION,
            namespace,
            plural,
            name,
        )

    async def replace_ray(self, plural: str, namespace: str, name: str, body: Obj) -> Obj:
        return await self._call(
            f"replace_{plural}",
            self._custom.replace_namespaced_custom_object,
            labels.GROUP,
            labels.VERSION,
            namespace,
            plural,
            name,
            body,
        )

    async def delete_ray(self, plural: str, namespace: str, name: str) -> Obj:
        return await self._call(
            f"delete_{plural}",
            self._custom.delete_namespaced_custom_object,
            labels.GROUP,
            labels.VERSION,
            namespace,
            plural,
            name,
        )

    async def list_ray(
        self,
        plural: str,
        namespace: str | None,
        label_selector: str = "",
        limit: int = 0,
        continue_token: str = "",
    ) -> Obj:
        """One page of a list; the result keeps Kubernetes' ``items`` and ``metadata.continue``."""
        options: dict[str, Any] = {}
        if label_selector:
            options["label_selector"] = label_selector
        if limit > 0:
            options["limit"] = limit
        if continue_token:
            options["_continue"] = continue_token
        if namespace is None:
            return await self._call(
                f"list_{plural}",
                self._custom.list_cluster_custom_object,
                labels.GROUP,
                labels.VERSION,
                plural,
                **options,
            )
        return await self._call(
            f"list_{plural}",
            self._custom.list_namespaced_custom_object,
            labels.GROUP,
            labels.VERSION,
            namespace,
            plural,
            **options,
        )

    async def watch_ray(self, plural: str, timeout_seconds: int = 300) -> AsyncIterator[tuple[str, Obj]]:
        """(event type, object) pairs for every change of ``plural`` in all namespaces, until the server ends it."""
        async with watch.Watch() as stream:
            async for event in stream.stream(
                self._custom.list_cluster_custom_object,
                labels.GROUP,
                labels.VERSION,
                plural,
                timeout_seconds=timeout_seconds,
            ):
                obj = event.get("raw_object") or event.get("object")
                if isinstance(obj, dict):
                    yield str(event.get("type", "")), obj

    # -- Events ------------------------------------------------------------------------------------------------

    async def list_events(self, namespace: str | None, field_selector: str = "") -> list[Obj]:
        """events.k8s.io/v1 events, optionally filtered (e.g. ``regarding.name=x``)."""
        options: dict[str, Any] = {"field_selector": field_selector} if field_selector else {}
        if namespace is None:
            result = await self._call("list_events", self._events.list_event_for_all_namespaces, **options)
        else:
            result = await self._call("list_events", self._events.list_namespaced_event, namespace, **options)
        items: list[Obj] = result.get("items") or []
        return items
