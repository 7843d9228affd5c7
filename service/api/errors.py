"""Every error leaves as ``{"code": <gRPC code>, "message": "..."}`` with grpc-gateway's HTTP status."""

from __future__ import annotations

import logging
import time
from typing import Any

from litestar import Request, Response
from litestar.exceptions import (
    HTTPException,
    MethodNotAllowedException,
    NotFoundException,
    ValidationException,
)

from service.api.edge import observe
from service.api.kube_native.status import is_kube_native, status_body
from service.errors import HTTP_STATUS, ApiError, Code

log = logging.getLogger("kuberay_apiserver.api")

AnyRequest = Request[Any, Any, Any]


def error_response(code: int, message: str, status: int | None = None) -> Response[dict[str, Any]]:
    status = status or HTTP_STATUS.get(code, 500)
    headers = (
        {"WWW-Authenticate": message.encode("latin-1", "replace").decode("latin-1")}
        if code == Code.UNAUTHENTICATED
        else None
    )
    return Response({"code": int(code), "message": message}, status_code=status, headers=headers)


def status_response(
    status: int, message: str, reason: str = "", details: dict[str, Any] | None = None
) -> Response[dict[str, Any]]:
    """A Kubernetes ``Status`` (the Kubernetes-native routes answer errors as kube-apiserver does)."""
    return Response(status_body(status, message, reason, details), status_code=status)


def on_api_error(request: AnyRequest, exc: ApiError) -> Response[dict[str, Any]]:
    level = logging.ERROR if exc.http_status >= 500 and exc.code != Code.UNAVAILABLE else logging.INFO
    log.log(level, "request failed", extra={"code": int(exc.code), "error": exc.message})
    if is_kube_native(request.scope.get("path", "")):
        return status_response(
            exc.http_status, exc.message, str(getattr(exc, "reason", "")), getattr(exc, "details", None)
        )
    return error_response(exc.code, exc.message)


def _unrouted(request: AnyRequest, code: Code, message: str, status: int) -> Response[dict[str, Any]]:
    """An answer for a request no route took: route middleware never saw it, so count and log it here."""
    if "route_handler" not in request.scope:
        observe(request.scope, status, time.perf_counter())
    if is_kube_native(request.scope.get("path", "")):
        return status_response(
            status, "the server could not find the requested resource" if status == 404 else message
        )
    return error_response(code, message, status=status)


def on_not_found(request: AnyRequest, exc: NotFoundException) -> Response[dict[str, Any]]:
    raw: bytes = request.scope.get("raw_path") or b""
    if raw.startswith(b"/apis/") and b"%2f" in raw.lower():
        # An encoded "/" inside a name or namespace: Litestar split it into two segments and found no route.
        return _unrouted(
            request,
            Code.INVALID_ARGUMENT,
            "a name or namespace in the path contains '/': use a valid name",
            400,
        )
    return _unrouted(request, Code.NOT_FOUND, "Not Found", 404)


def on_method_not_allowed(request: AnyRequest, exc: MethodNotAllowedException) -> Response[dict[str, Any]]:
    # The contract corrects upstream's 501 to a real 405, keeping the UNIMPLEMENTED code.
    response = _unrouted(request, Code.UNIMPLEMENTED, "Method Not Allowed", 405)
    allow = (exc.headers or {}).get("allow") or (exc.headers or {}).get("Allow")
    if allow:
        response.headers["Allow"] = allow  # RFC 9110: a 405 says which methods the resource has
    return response


def on_validation(request: AnyRequest, exc: ValidationException) -> Response[dict[str, Any]]:
    return error_response(Code.INVALID_ARGUMENT, str(exc.detail))


_CODES_BY_STATUS = {
    400: Code.INVALID_ARGUMENT,
    401: Code.UNAUTHENTICATED,
    403: Code.PERMISSION_DENIED,
    404: Code.NOT_FOUND,
    409: Code.ABORTED,
    413: Code.RESOURCE_EXHAUSTED,
    415: Code.INVALID_ARGUMENT,
    429: Code.RESOURCE_EXHAUSTED,
    503: Code.UNAVAILABLE,
}


def on_http_exception(request: AnyRequest, exc: HTTPException) -> Response[dict[str, Any]]:
    if exc.status_code >= 500 and exc.status_code != 503:
        return on_unexpected(request, exc)
    code = _CODES_BY_STATUS.get(exc.status_code, Code.INVALID_ARGUMENT)
    message = str(exc.detail)
    if exc.status_code == 413:
        message = "the request body is too large"
    return error_response(code, message, status=exc.status_code)


def on_unexpected(request: AnyRequest, exc: Exception) -> Response[dict[str, Any]]:
    # Never echo internals to the client; the log has the traceback.
    log.exception("unexpected error", exc_info=exc)
    return error_response(Code.INTERNAL, "Internal Server Error")


EXCEPTION_HANDLERS: dict[Any, Any] = {
    ApiError: on_api_error,
    NotFoundException: on_not_found,
    MethodNotAllowedException: on_method_not_allowed,
    ValidationException: on_validation,
    HTTPException: on_http_exception,
    Exception: on_unexpected,
}
