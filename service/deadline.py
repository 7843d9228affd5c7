"""The request deadline: one absolute point in time per API call, shared by every call the request makes.

The HTTP middleware and the gRPC interceptor start it; the Kubernetes client and the database records bound
each of their calls by ``budget(own_limit)``, so a request that waits on several slow dependencies still ends
at its deadline instead of adding their limits up. Background tasks run without a deadline and use their own
limits only.
"""

from __future__ import annotations

import contextlib
import contextvars
import time
from collections.abc import Iterator

from service.errors import DeadlineExceededError

_deadline: contextvars.ContextVar[float | None] = contextvars.ContextVar("request_deadline", default=None)


@contextlib.contextmanager
def request_deadline(seconds: float) -> Iterator[float]:
    """Run the enclosed code under a deadline ``seconds`` from now (or an earlier one already set)."""
    now = time.monotonic()
    current = _deadline.get()
    deadline = now + seconds if current is None else min(current, now + seconds)
    token = _deadline.set(deadline)
    try:
        yield deadline
    finally:
        _deadline.reset(token)


def remaining() -> float | None:
    """Seconds left before the deadline, or None outside a request."""
    deadline = _deadline.get()
    return None if deadline is None else deadline - time.monotonic()


def budget(limit: float) -> float:
    """The time one dependency call may take: its own ``limit``, cut to what the request has left.

    Raises ``DeadlineExceededError`` when nothing is left, so no call starts that cannot finish in time.
    """
    left = remaining()
    if left is None:
        return limit
    if left <= 0:
        raise DeadlineExceededError("the request ran out of time before it could finish")
    return min(limit, left)
