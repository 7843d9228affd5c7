"""Waiting for what the service sees of changes made behind its back (its informers lag them by moments)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")


async def eventually(check: Callable[[], Awaitable[T]], seconds: float = 10.0) -> T:
    """``check``'s result once its assertions hold (a missing key or item counts as not yet); else its last failure."""
    loop = asyncio.get_running_loop()
    end = loop.time() + seconds
    while True:
        try:
            return await check()
        except (AssertionError, KeyError, IndexError):  # a field or item not there yet counts as not yet
            if loop.time() > end:
                raise
        await asyncio.sleep(0.05)
