"""Every error leaves as ``{"code": <gRPC code>, "message": "..."}`` with grpc-gateway's HTTP status."""

from __future__ import annotations

import logging
from typing import Any

from litestar import Request, Response
from litestar.exceptions import (
    HTTPException,
    MethodNotAllowedException,
    NotFoundException,
    ValidationException,
)

from service.errors import HTTP_STATUS, ApiError, Code

log = logging.getLogger("kuberay_apiserver.api")

AnyRequest = Request[Any, Any, Any]


def error_response(code: int, message: str, status: int | None = None) -> Response[dict[str, Any]]:
    status = status or HTTP_STATUS.get(code, 500)
    headers = {"WWW-Authenticate": message} if code == Code.UNAUTHENTICATED else None
    return Response({"code": int(code), "message": message}, status_code=status, headers=headers)


def on_api_error(request: AnyRequest, exc: ApiError) -> Response[dict[str, Any]]:
    level = logging.ERROR if exc.http_status >= 500 else logging.INFO
    log.log(level, "request failed", extra={"code": int(exc.code), "error": exc.message})
    return error_response(exc.code, exc.message)


def on_not_found(request: AnyRequest, exc: NotFoundException) -> Response[dict[str, Any]]:
    return error_response(Code.NOT_FOUND, "Not Found")


def on_method_not_allowed(request: AnyRequest, exc: MethodNotAllowedException) -> Response[dict[str, Any]]:
    # The contract corrects upstream's 501 to a real 405, keeping the UNIMPLEMENTED code.
    return error_response(Code.UNIMPLEMENTED, "Method Not Allowed", status=405)


def on_validation(request: AnyRequest, exc: ValidationException) -> Response[dict[str, Any]]:
    return error_response(Code.INVALID_ARGUMENT, str(exc.detail))


def on_http_exception(request: AnyRequest, exc: HTTPException) -> Response[dict[str, Any]]:
    if exc.status_code >= 500:
        return on_unexpected(request, exc)
    code = {
        400: Code.INVALID_ARGUMENT,
        401: Code.UNAUTHENTICATED,
        403: Code.PERMISSION_DENIED,
        404: Code.NOT_FOUND,
        409: Code.ABORTED,
        413: Code.RESOURCE_EXHAUSTED,
        415: Code.INVALID_ARGUMENT,
        429: Code.RESOURCE_EXHAUSTED,
        503: Code.UNAVAILABLE,
    }.get(exc.status_code, Code.INTERNAL if exc.status_code >= 500 else Code.INVALID_ARGUMENT)
    return error_response(code, str(exc.detail), status=exc.status_code)


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
