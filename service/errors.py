"""The service's error vocabulary.

Every failure a client can see is an ``ApiError`` carrying a gRPC status code and a message; the HTTP layer maps
the code to a status (grpc-gateway's table) and the gRPC layer uses it as is. Lower layers translate their own
exceptions (Kubernetes, SQL) into these at their boundary.
"""

from __future__ import annotations

from enum import IntEnum
from typing import Any


class Code(IntEnum):
    """Canonical gRPC status codes."""

    OK = 0
    CANCELLED = 1
    UNKNOWN = 2
    INVALID_ARGUMENT = 3
    DEADLINE_EXCEEDED = 4
    NOT_FOUND = 5
    ALREADY_EXISTS = 6
    PERMISSION_DENIED = 7
    RESOURCE_EXHAUSTED = 8
    FAILED_PRECONDITION = 9
    ABORTED = 10
    OUT_OF_RANGE = 11
    UNIMPLEMENTED = 12
    INTERNAL = 13
    UNAVAILABLE = 14
    DATA_LOSS = 15
    UNAUTHENTICATED = 16


# grpc-gateway's HTTPStatusFromCode.
HTTP_STATUS: dict[int, int] = {
    Code.OK: 200,
    Code.CANCELLED: 499,
    Code.UNKNOWN: 500,
    Code.INVALID_ARGUMENT: 400,
    Code.DEADLINE_EXCEEDED: 504,
    Code.NOT_FOUND: 404,
    Code.ALREADY_EXISTS: 409,
    Code.PERMISSION_DENIED: 403,
    Code.RESOURCE_EXHAUSTED: 429,
    Code.FAILED_PRECONDITION: 400,
    Code.ABORTED: 409,
    Code.OUT_OF_RANGE: 400,
    Code.UNIMPLEMENTED: 501,
    Code.INTERNAL: 500,
    Code.UNAVAILABLE: 503,
    Code.DATA_LOSS: 500,
    Code.UNAUTHENTICATED: 401,
}


class ApiError(Exception):
    """A failure reported to the client as ``{"code": ..., "message": ...}``."""

    code: Code = Code.UNKNOWN

    def __init__(self, message: str, code: Code | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code

    @property
    def http_status(self) -> int:
        return HTTP_STATUS.get(self.code, 500)


class InvalidInputError(ApiError):
    code = Code.INVALID_ARGUMENT


class NotFoundError(ApiError):
    code = Code.NOT_FOUND


class AlreadyExistsError(ApiError):
    code = Code.ALREADY_EXISTS


class FailedPreconditionError(ApiError):
    code = Code.FAILED_PRECONDITION


class AbortedError(ApiError):
    code = Code.ABORTED


class InternalError(ApiError):
    code = Code.INTERNAL


class UnavailableError(ApiError):
    code = Code.UNAVAILABLE


class DeadlineExceededError(ApiError):
    code = Code.DEADLINE_EXCEEDED


class OutcomeUnknownError(DeadlineExceededError):
    """A change was sent to Kubernetes but no answer came back: it may or may not have happened.

    Its audit row stays PENDING until the reconciler looks at Kubernetes and settles it.
    """


class PermissionDeniedError(ApiError):
    code = Code.PERMISSION_DENIED


class UnauthenticatedError(ApiError):
    code = Code.UNAUTHENTICATED


def invalid_input(message: str, wrap: str | None = None) -> InvalidInputError:
    """An invalid-input error worded as upstream composes it.

    Upstream joins the external message, the server's wrap text and the internal chain, e.g.
    ``Cluster name is empty. ...: Validate create cluster request failed.: Invalid input error: Cluster name ...``.
    """
    chain = f"Invalid input error: {message}"
    if wrap:
        chain = f"{wrap}: {chain}"
    return InvalidInputError(f"{message}: {chain}")


def invalid_input_details(message: str, detail: str, wrap: str) -> InvalidInputError:
    """An invalid-input error raised while building a custom resource (upstream ``InvalidInputWithDetails``)."""
    return InvalidInputError(f"{message}: {wrap}: InvalidInputError: {message}: {detail}")


def not_found(message: str, wrap: str, cause: str) -> NotFoundError:
    """A not-found error with upstream's wording: ``<msg>: <wrap>: NotFoundError: <msg>: <cause>``."""
    return NotFoundError(f"{message}: {wrap}: NotFoundError: {message}: {cause}")


def already_exists(message: str, wrap: str) -> AlreadyExistsError:
    return AlreadyExistsError(f"{message}: {wrap}: Already exist error: {message}")


class StatusError(ApiError):
    """A failure whose HTTP status and reason are Kubernetes' own (the Kubernetes-native routes answer them)."""

    def __init__(self, status: int, reason: str, message: str, details: dict[str, Any] | None = None) -> None:
        super().__init__(message, _CODE_BY_STATUS.get(status, Code.UNKNOWN))
        self.status = status
        self.reason = reason
        self.details = details
        """The Status ``details`` (name, kind, causes), as Kubernetes sent them."""

    @property
    def http_status(self) -> int:
        return self.status


_CODE_BY_STATUS: dict[int, Code] = {
    400: Code.INVALID_ARGUMENT,
    401: Code.UNAUTHENTICATED,
    403: Code.PERMISSION_DENIED,
    404: Code.NOT_FOUND,
    405: Code.UNIMPLEMENTED,
    409: Code.ABORTED,
    410: Code.OUT_OF_RANGE,
    415: Code.INVALID_ARGUMENT,
    422: Code.INVALID_ARGUMENT,
    429: Code.RESOURCE_EXHAUSTED,
    500: Code.INTERNAL,
    503: Code.UNAVAILABLE,
    504: Code.DEADLINE_EXCEEDED,
}

STATUS_REASONS: dict[int, str] = {
    400: "BadRequest",
    401: "Unauthorized",
    403: "Forbidden",
    404: "NotFound",
    405: "MethodNotAllowed",
    409: "Conflict",
    410: "Expired",
    415: "UnsupportedMediaType",
    422: "Invalid",
    429: "TooManyRequests",
    500: "InternalError",
    503: "ServiceUnavailable",
    504: "Timeout",
}
