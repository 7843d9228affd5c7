"""Turning Kubernetes failures into API errors, in one place."""

from __future__ import annotations

from service.errors import (
    AbortedError,
    AlreadyExistsError,
    ApiError,
    DeadlineExceededError,
    InternalError,
    InvalidInputError,
    NotFoundError,
    PermissionDeniedError,
    UnavailableError,
)
from service.kube.errors import (
    KubeConflictError,
    KubeError,
    KubeForbiddenError,
    KubeGoneError,
    KubeInvalidError,
    KubeNotFoundError,
    KubeUnavailableError,
)


def api_error(exc: KubeError, context: str) -> ApiError:
    """The API error for a failed Kubernetes call; ``context`` says what the service was doing."""
    detail = f"{context}: {exc.message}"
    if isinstance(exc, KubeUnavailableError):
        if exc.reason == "Timeout":
            return DeadlineExceededError(detail)
        return UnavailableError(detail)
    if isinstance(exc, KubeNotFoundError):
        return NotFoundError(detail)
    if isinstance(exc, KubeConflictError):
        return AlreadyExistsError(detail) if exc.already_exists else AbortedError(detail)
    if isinstance(exc, KubeInvalidError):
        return InvalidInputError(detail)
    if isinstance(exc, KubeForbiddenError):
        # Kubernetes' own text names the identity the call ran as; say what was refused instead.
        where = f" in namespace {exc.namespace}" if exc.namespace else " in all namespaces"
        return PermissionDeniedError(f"{context}: not allowed to {exc.verb} {exc.resource}{where}")
    if isinstance(exc, KubeGoneError):
        return InvalidInputError(f"{detail} (the continue token expired; start the list again)")
    return InternalError("Internal Server Error")
