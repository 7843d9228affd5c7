"""Application factory: settings, the database, Kubernetes and the managers wired into a Litestar app.

``create_app()`` with no argument reads the settings from the environment, so
``uvicorn --factory service.app:create_app`` serves exactly what ``kuberay-apiserver serve`` serves.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import AsyncIterator, Coroutine
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

from litestar import Litestar
from litestar.config.cors import CORSConfig

from service import __version__
from service.api import (
    audit,
    clusters,
    compute_templates,
    docs,
    empty_names,
    health,
    job_submissions,
    jobs,
    services,
)
from service.api.authentication import AuthenticationMiddleware
from service.api.deps import DEPENDENCIES
from service.api.edge import EdgeMiddleware, add_request_id
from service.api.errors import EXCEPTION_HANDLERS
from service.api.kube_native import discovery as kube_native_discovery
from service.api.kube_native import events as kube_native_events
from service.api.kube_native import proxy as kube_native_proxy
from service.api.kube_native import ray as kube_native_ray
from service.db import migrate
from service.db.engine import create_engine
from service.db.records import Records
from service.db.session import Database
from service.kube.client import KubeClient, load_configuration
from service.log import configure_logging
from service.managers.authentication import build_authenticator
from service.managers.reconciler import Reconciler
from service.managers.registry import build_managers
from service.managers.retention import prune_forever
from service.settings import Settings, for_serving, load_settings

log = logging.getLogger("kuberay_apiserver")


async def _stop(task: asyncio.Task[Any]) -> None:
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


def _background(stack: AsyncExitStack, work: Coroutine[Any, Any, None], name: str) -> None:
    """Run ``work`` until the app stops (then cancel it and wait for it)."""
    task = asyncio.create_task(work, name=name)
    stack.push_async_callback(_stop, task)


def _lifespan(settings: Settings) -> Any:
    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        async with AsyncExitStack() as stack:
            host = ""
            if settings.dev_cluster:
                from service.devcluster import DevCluster

                dev = DevCluster(port=settings.dev_cluster_port)
                host = await dev.start()
                stack.push_async_callback(dev.stop)
            configuration = await load_configuration(settings.kubeconfig, host)
            kube = KubeClient(configuration, settings.kube_timeout, settings.kube_concurrency)
            stack.push_async_callback(kube.close)
            engine = create_engine(settings.database_url, settings.db_timeout)
            stack.push_async_callback(engine.dispose)
            if settings.migrate:
                await migrate.upgrade(engine)
            db = Database(engine, settings.db_timeout)
            stack.push_async_callback(db.close)
            records = Records(db)
            managers = build_managers(kube, db, settings)
            stack.push_async_callback(managers.job_submissions.dashboards.close)
            authenticator = build_authenticator(settings, kube)
            stack.push_async_callback(authenticator.close)
            app.state.settings = settings
            app.state.managers = managers
            app.state.authenticator = authenticator
            # A PENDING change older than any request can live was interrupted: the reconciler settles it.
            reconciler = Reconciler(
                kube, records, settings.request_timeout + settings.kube_timeout, managers.reads
            )
            _background(stack, reconciler.run_forever(settings.reconcile_interval), "reconciler")
            if settings.retention_days > 0:
                _background(
                    stack,
                    prune_forever(records, settings.retention_days, settings.retention_interval),
                    "retention",
                )
            if managers.reads is not None and managers.deletions is not None:
                stack.push_async_callback(managers.deletions.close)
                for task in await managers.reads.start():
                    stack.push_async_callback(_stop, task)
            if settings.grpc_port:
                from service.rpc.server import start_grpc_server

                grpc_server = await start_grpc_server(managers, authenticator, settings)
                stack.push_async_callback(grpc_server.stop, 5)
            log.info(
                "kuberay-apiserver %s ready",
                __version__,
                extra={"auth": settings.auth, "tls": bool(settings.tls_cert_file)},
            )
            yield

    return lifespan


def create_app(settings: Settings | None = None) -> Litestar:
    """The Litestar application; without ``settings``, they (and logging) come from the environment."""
    if settings is None:
        settings = load_settings(os.environ)
        configure_logging(settings.log_format, settings.log_level)
    settings = for_serving(settings)
    origins = frozenset(filter(None, [settings.cors_allow_origin]))
    return Litestar(
        route_handlers=[
            *compute_templates.ROUTES,
            *clusters.ROUTES,
            *jobs.ROUTES,
            *services.ROUTES,
            *job_submissions.ROUTES,
            *empty_names.ROUTES,
            *audit.ROUTES,
            *health.ROUTES,
            *docs.routes(),
            *kube_native_ray.ROUTES,
            *kube_native_discovery.ROUTES,
            *kube_native_events.ROUTES,
            *kube_native_proxy.ROUTES,
        ],
        dependencies=DEPENDENCIES,
        middleware=[
            EdgeMiddleware(settings.request_timeout, origins, follow_seconds=settings.log_follow_seconds),
            AuthenticationMiddleware(settings.metrics_public),
        ],
        before_send=[add_request_id],
        lifespan=[_lifespan(settings)],
        exception_handlers=EXCEPTION_HANDLERS,
        openapi_config=docs.openapi_config(),
        request_max_body_size=settings.max_body_bytes,
        debug=False,
        logging_config=None,
        # As upstream's -cors-allow-origin: off unless an origin is configured.
        cors_config=CORSConfig(
            allow_origins=[settings.cors_allow_origin],
            allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"],
            allow_headers=["Accept", "Authorization", "Content-Type", "X-Requested-With", "X-Request-Id"],
        )
        if settings.cors_allow_origin
        else None,
    )
