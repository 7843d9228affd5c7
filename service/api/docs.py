"""The OpenAPI document, the Swagger UI (served from the installed package: no request leaves the browser's
network), upstream's ``/swagger-ui/`` path, and the Prometheus metrics."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from litestar import Response, get
from litestar.handlers import HTTPRouteHandler
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import JsonRenderPlugin, SwaggerRenderPlugin, YamlRenderPlugin
from litestar.response import Redirect
from litestar.static_files import create_static_files_router
from litestar.types import ControllerRouterHandler
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from service import __version__

STATIC_PATH = "/schema/static"


def swagger_ui_dir() -> Path:
    """Swagger UI 5 (it reads OpenAPI 3.1) from the ``swagger-ui-py`` wheel, located without importing it."""
    spec = importlib.util.find_spec("swagger_ui")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the swagger-ui-py package is missing: reinstall kuberay-apiserver")
    return Path(next(iter(spec.submodule_search_locations))) / "static"


@get("/metrics", include_in_schema=False, opt={"rpc": "Metrics"})
async def metrics() -> Response[bytes]:
    """Prometheus metrics."""
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)


@get(["/swagger-ui", "/swagger-ui/"], include_in_schema=False, opt={"rpc": "SwaggerUI"})
async def swagger_ui() -> Redirect:
    """Upstream's Swagger UI path, kept for people who bookmarked it."""
    return Redirect("/schema/swagger")


def openapi_config() -> OpenAPIConfig:
    return OpenAPIConfig(
        title="kuberay-apiserver",
        version=__version__,
        description="REST API for Ray on Kubernetes, wire-compatible with the KubeRay APIServer.",
        render_plugins=[
            SwaggerRenderPlugin(
                js_url=f"{STATIC_PATH}/swagger-ui-bundle.js",
                css_url=f"{STATIC_PATH}/swagger-ui.css",
                standalone_preset_js_url=f"{STATIC_PATH}/swagger-ui-standalone-preset.js",
                favicon=f'<link rel="icon" type="image/png" href="{STATIC_PATH}/favicon-32x32.png">',
                path="/swagger",
            ),
            JsonRenderPlugin(),
            YamlRenderPlugin(),
        ],
    )


def routes() -> list[ControllerRouterHandler | HTTPRouteHandler]:
    return [
        metrics,
        swagger_ui,
        create_static_files_router(path=STATIC_PATH, directories=[swagger_ui_dir()], include_in_schema=False),
    ]
