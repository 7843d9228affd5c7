"""Polling with a deadline: the operator tier's changes arrive asynchronously, never after a fixed sleep."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

import grpc
import httpx
from kubernetes_asyncio import client

T = TypeVar("T")


async def eventually(
    probe: Callable[[], Awaitable[T | None]], what: str, seconds: float = 60, interval: float = 0.5
) -> T:
    """Awaits ``probe`` until it returns something truthy, and returns that; fails after ``seconds``
    with the last value seen (or the last error), so a stuck reconcile says where it stopped."""
    deadline = time.monotonic() + seconds
    last: object = None
    while True:
        try:
            value = await probe()
        except (AssertionError, client.ApiException, httpx.HTTPError, grpc.aio.AioRpcError) as exc:
            value, last = None, exc
        else:
            last = value
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {seconds:.0f}s; last seen: {last!r}")
        await asyncio.sleep(interval)
