"""The dev cluster's lifecycle: `DevCluster` starts and stops the HTTP server and writes its kubeconfig."""

from __future__ import annotations

import asyncio
import logging
import os
import pathlib

import yaml
from aiohttp import web

from service.devcluster.handlers import build_app
from service.devcluster.requestlog import REQUEST_LOG_SIZE, LoggedRequest, RequestLog
from service.devcluster.store import Store

logger = logging.getLogger("kuberay_apiserver.devcluster")

# The dev cluster accepts any request; the token only fills the kubeconfig's user.
DUMMY_TOKEN = "devcluster-dummy-token"


class DevCluster:
    """An in-memory emulation of the Kubernetes API this service uses, served over HTTP on loopback."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        request_log_size: int = REQUEST_LOG_SIZE,
        history_size: int = 1000,
    ) -> None:
        self._history_size = history_size
        self._host = host
        self._port = port
        self._request_log_size = request_log_size
        self._store: Store | None = None
        self._requests: RequestLog | None = None
        self._runner: web.AppRunner | None = None
        self._url: str | None = None

    @property
    def url(self) -> str:
        if self._url is None:
            raise RuntimeError("the dev cluster is not started")
        return self._url

    @property
    def store(self) -> Store:
        """The objects themselves, for tests that want to look behind the API."""
        if self._store is None:
            raise RuntimeError("the dev cluster is not started")
        return self._store

    @property
    def next_request_index(self) -> int:
        """The index the next request will get in the request log."""
        return self._request_log().next_index

    def requests(self, since: int = 0) -> list[LoggedRequest]:
        """The logged requests with index `since` or later, as served at /_devcluster/requests."""
        return self._request_log().since(since)

    def _request_log(self) -> RequestLog:
        if self._requests is None:
            raise RuntimeError("the dev cluster is not started")
        return self._requests

    async def start(self) -> str:
        """Listen (port 0 picks a free one) and return the base URL."""
        if self._runner is not None:
            raise RuntimeError("the dev cluster is already started")
        store = Store(history_size=self._history_size)
        requests = RequestLog(self._request_log_size)
        # handler_cancellation: a watch handler is cancelled as soon as its client disconnects.
        runner = web.AppRunner(
            build_app(store, requests), handler_cancellation=True, access_log=None, shutdown_timeout=2.0
        )
        await runner.setup()
        try:
            site = web.TCPSite(runner, self._host, self._port)
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        port = runner.addresses[0][1]
        host = f"[{self._host}]" if ":" in self._host else self._host
        self._store, self._requests, self._runner = store, requests, runner
        self._url = f"http://{host}:{port}"
        logger.warning(
            "DEV CLUSTER at %s: an in-memory emulation of the Kubernetes API, NOT a real cluster; "
            "every object is lost when the process exits",
            self._url,
        )
        return self._url

    async def stop(self) -> None:
        """End open watches, then stop serving. Every object, and the request log, is dropped."""
        if self._runner is None:
            return
        if self._store is not None:
            self._store.close_watchers()
        runner, self._runner, self._store, self._requests, self._url = self._runner, None, None, None, None
        await runner.cleanup()

    def write_kubeconfig(self, path: pathlib.Path, namespace: str = "default") -> None:
        """A kubeconfig pointing at this cluster over plain HTTP with a dummy token user."""
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "devcluster", "cluster": {"server": self.url}}],
            "users": [{"name": "devcluster", "user": {"token": DUMMY_TOKEN}}],
            "contexts": [
                {
                    "name": "devcluster",
                    "context": {"cluster": "devcluster", "user": "devcluster", "namespace": namespace},
                }
            ],
            "current-context": "devcluster",
            "preferences": {},
        }
        path = pathlib.Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        # Written aside and renamed, so a reader polling for the file never sees half of it.
        partial = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        partial.write_text(yaml.safe_dump(config, sort_keys=False))
        partial.replace(path)


async def serve_dev_cluster(host: str, port: int, kubeconfig: pathlib.Path | None) -> None:
    """Run a dev cluster until cancelled, writing `kubeconfig` (if given) once it listens."""
    cluster = DevCluster(host, port)
    await cluster.start()
    try:
        if kubeconfig is not None:
            cluster.write_kubeconfig(kubeconfig)
        await asyncio.Event().wait()
    finally:
        await cluster.stop()
