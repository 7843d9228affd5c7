"""Application factory: wires settings, the database, Kubernetes and the managers into a Litestar app."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

import swagger_ui_bundle
from litestar import Litestar, Response, get
from litestar.config.cors import CORSConfig
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import JsonRenderPlugin, SwaggerRenderPlugin, YamlRenderPlugin
from litestar.response import Redirect
from litestar.static_files import create_static_files_router
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from service import __version__
from service.api import audit, clusters, compute_templates, health, jobs, services
from service.api.errors import EXCEPTION_HANDLERS
from service.api.gateway import Gateway
from service.db import migrate
from service.db.engine import create_engine, create_sessionmaker
from service.db.records import Records
from service.kube.client import KubeClient, load_configuration
from service.managers.audit import AuditManager
from service.managers.clusters import ClusterManager
from service.managers.jobs import JobManager
from service.managers.registry import Managers
from service.managers.services import ServiceManager
from service.managers.templates import ComputeTemplateManager
from service.retention import prune_forever
from service.settings import Settings
from service.watcher import start_watchers

log = logging.getLogger("kuberay_apiserver")

STATIC_PATH = "/schema/static"


@get("/metrics", include_in_schema=False)
async def metrics() -> Response[bytes]:
    """Prometheus metrics."""
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)


@get(["/swagger-ui", "/swagger-ui/"], include_in_schema=False)
async def swagger_ui() -> Redirect:
    """Upstream's Swagger UI path, kept for people who bookmarked it."""
    return Redirect("/schema/swagger")


async def _cancel_all(tasks: list[asyncio.Task[None]]) -> None:
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


def _lifespan(settings: Settings) -> Any:
    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        async with AsyncExitStack() as stack:
            host = ""
            if settings.dev_cluster:
                from service.kube.devcluster import DevCluster

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
            sessionmaker = create_sessionmaker(engine)
            records = Records(sessionmaker, settings.db_timeout)
            # Retention: prune old audit rows and history in the background until shutdown.
            if settings.retention_days > 0:
                days, every = settings.retention_days, settings.retention_interval
                pruner = asyncio.create_task(prune_forever(records, days, every))
                stack.push_async_callback(asyncio.wait, [pruner])  # runs after the cancel below
                stack.callback(pruner.cancel)
            # Record deletions made outside the API (kubectl, operator TTLs) while the service runs.
            if settings.watch:
                stack.push_async_callback(_cancel_all, start_watchers(kube, records))
            templates = ComputeTemplateManager(kube, records)
            app.state.settings = settings
            app.state.kube = kube
            app.state.records = records
            app.state.managers = Managers(
                templates=templates,
                clusters=ClusterManager(kube, records, templates),
                jobs=JobManager(kube, records, templates),
                services=ServiceManager(kube, records, templates),
                audit=AuditManager(sessionmaker, settings.db_timeout),
            )
            # gRPC API (service/rpc) on its own port, over the same managers; stopped before its dependencies.
            if settings.grpc_port:
                from service.rpc.server import start_grpc_server

                grpc_server = await start_grpc_server(
                    app.state.managers,
                    settings.host,
                    settings.grpc_port,
                    settings.request_timeout,
                    settings.user_header,
                )
                stack.push_async_callback(grpc_server.stop, 5)
            log.info("kuberay-apiserver %s ready", __version__, extra={"kubernetes": configuration.host})
            yield

    return lifespan


def create_app(settings: Settings) -> Litestar:
    """The Litestar application (without the outer gateway; see ``create_asgi``)."""
    return Litestar(
        route_handlers=[
            *compute_templates.ROUTES,
            *clusters.ROUTES,
            *jobs.ROUTES,
            *services.ROUTES,
            *audit.ROUTES,
            *health.ROUTES,
            metrics,
            swagger_ui,
            create_static_files_router(
                path=STATIC_PATH, directories=[swagger_ui_bundle.swagger_ui_path], include_in_schema=False
            ),
        ],
        lifespan=[_lifespan(settings)],
        exception_handlers=EXCEPTION_HANDLERS,
        openapi_config=OpenAPIConfig(
            title="kuberay-apiserver",
            version=__version__,
            description="REST API for Ray on Kubernetes, wire-compatible with the KubeRay APIServer.",
            render_plugins=[
                SwaggerRenderPlugin(
                    js_url=f"{STATIC_PATH}/swagger-ui-bundle.js",
                    css_url=f"{STATIC_PATH}/swagger-ui.css",
                    standalone_preset_js_url=f"{STATIC_PATH}/swagger-ui-standalone-preset.js",
                    path="/swagger",
                ),
                JsonRenderPlugin(),
                YamlRenderPlugin(),
            ],
        ),
        debug=False,
        logging_config=None,
        # As upstream's -cors-allow-origin: off unless an origin is configured.
        cors_config=CORSConfig(
            allow_origins=[settings.cors_allow_origin],
            allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"],
            allow_headers=["Accept", "Content-Type", "X-Requested-With", "X-Request-Id"],
        )
        if settings.cors_allow_origin
        else None,
    )


def create_asgi(settings: Settings) -> Gateway:
    """The ASGI callable to serve: the gateway in front of the Litestar app."""
    return Gateway(create_app(settings), settings.request_timeout)
