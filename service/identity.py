"""Who a request acts as in Kubernetes.

A leaf module. After authenticating a caller, the HTTP and gRPC edges put the caller's identity here for the
duration of the request; the Kubernetes client then sends every call it makes for that request with
``Impersonate-User`` / ``Impersonate-Group`` headers, so the cluster decides with the caller's own RBAC. No call
can forget it. Calls the service makes for itself (token reviews, access reviews, background work) run outside
it, with ``as_service()`` where a request needs one.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterator

import msgspec


class Identity(msgspec.Struct, frozen=True, kw_only=True):
    """A verified caller."""

    user: str
    groups: tuple[str, ...] = ()
    method: str = "none"
    """How it was verified: ``token`` (Kubernetes TokenReview), ``oidc``, ``proxy``; ``none`` for anonymous."""


_acting_as: contextvars.ContextVar[Identity | None] = contextvars.ContextVar("acting_as", default=None)


def acting_as() -> Identity | None:
    """The identity Kubernetes calls are made as right now; None means the service's own."""
    return _acting_as.get()


@contextlib.contextmanager
def act_as(identity: Identity | None) -> Iterator[None]:
    token = _acting_as.set(identity)
    try:
        yield
    finally:
        _acting_as.reset(token)


@contextlib.contextmanager
def as_service() -> Iterator[None]:
    """Calls in this block use the service's own credentials (for reviews the service makes itself)."""
    with act_as(None):
        yield
