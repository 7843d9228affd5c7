"""Kubernetes API failures, translated from the client's exceptions at the client boundary."""

from __future__ import annotations

import json
from typing import Any


class KubeError(Exception):
    """A Kubernetes API call failed; ``status`` is the HTTP status (0 when no answer came)."""

    def __init__(self, status: int, reason: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.reason = reason
        self.message = message

    @classmethod
    def from_response(cls, status: int, body: bytes) -> KubeError:
        reason, message = "", body.decode(errors="replace")[:500]
        try:
            data: Any = json.loads(body)
        except ValueError:
            data = None
        if isinstance(data, dict) and data.get("kind") == "Status":
            reason = str(data.get("reason") or "")
            message = str(data.get("message") or message)
        error_type = _BY_STATUS.get(status, KubeError)
        return error_type(status, reason, message)


class KubeNotFoundError(KubeError):
    pass


class KubeConflictError(KubeError):
    """409: the name is taken (reason AlreadyExists) or the object changed meanwhile (reason Conflict)."""

    @property
    def already_exists(self) -> bool:
        return self.reason == "AlreadyExists"


class KubeInvalidError(KubeError):
    """422 or 400: Kubernetes rejected the object."""


class KubeForbiddenError(KubeError):
    pass


class KubeGoneError(KubeError):
    """410: a continue token or resourceVersion expired."""


class KubeUnavailableError(KubeError):
    """No answer, a timeout, or a 5xx from the API server."""


_BY_STATUS: dict[int, type[KubeError]] = {
    400: KubeInvalidError,
    401: KubeForbiddenError,
    403: KubeForbiddenError,
    404: KubeNotFoundError,
    409: KubeConflictError,
    410: KubeGoneError,
    422: KubeInvalidError,
    500: KubeUnavailableError,
    502: KubeUnavailableError,
    503: KubeUnavailableError,
    504: KubeUnavailableError,
}
