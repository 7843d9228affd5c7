"""Kubernetes API failures, translated at the client boundary.

Messages never carry the API server's address or the service's own identity: they reach clients and the audit
trail. What the service was doing (verb, resource, namespace) travels as attributes so the managers can word the
error for the caller.
"""

from __future__ import annotations

import contextlib
from typing import Any

import msgspec


class KubeError(Exception):
    """A Kubernetes API call failed; ``status`` is the HTTP status (0 when no answer came)."""

    def __init__(
        self,
        status: int,
        reason: str,
        message: str,
        *,
        outcome_unknown: bool = False,
        details: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.reason = reason
        self.message = message
        self.details = details
        """The ``details`` of Kubernetes' Status (name, kind, causes), when it sent one."""
        self.outcome_unknown = outcome_unknown
        """True when a write may have been applied although no success came back (timeout, dropped link)."""
        self.verb = ""
        self.resource = ""
        self.namespace = ""

    @classmethod
    def from_response(cls, status: int, body: bytes) -> KubeError:
        reason, message = "", f"the Kubernetes API answered {status}"
        details: dict[str, Any] | None = None
        data: Any = None
        with contextlib.suppress(msgspec.DecodeError):
            data = msgspec.json.decode(body)
        if isinstance(data, dict) and data.get("kind") == "Status":
            reason = str(data.get("reason") or "")
            message = str(data.get("message") or message)
            if isinstance(data.get("details"), dict):
                details = data["details"]
        error_type = _BY_STATUS.get(status, KubeUnavailableError if status >= 500 else KubeError)
        # 504 (reason Timeout): "the server may still be processing the request".
        return error_type(
            status, reason, message, outcome_unknown=status == 504 or reason == "Timeout", details=details
        )


class KubeNotFoundError(KubeError):
    pass


class KubeConflictError(KubeError):
    """409: the name is taken (reason AlreadyExists) or the object changed meanwhile (reason Conflict)."""

    @property
    def already_exists(self) -> bool:
        return self.reason == "AlreadyExists"


class KubeInvalidError(KubeError):
    """422 or 400: Kubernetes rejected the object or the request."""


class KubeForbiddenError(KubeError):
    """401 or 403: the identity the call was made with may not do it."""


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
    415: KubeInvalidError,
    422: KubeInvalidError,
    # "storage is (re)initializing" right after a CRD appears, or API priority and fairness throttling: retry.
    429: KubeUnavailableError,
}
