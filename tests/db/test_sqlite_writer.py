"""The SQLite write path of every change: run on the event loop, handed to a thread when another process holds the
file, and the write-ahead log copied back into the database file by that thread."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

from service.db import migrate
from service.db.engine import create_engine
from service.db.records import Change, Records
from service.db.session import CHECKPOINT_EVERY, Database
from service.errors import UnavailableError
from service.vocabulary import Action, Resource

pytestmark = pytest.mark.asyncio(loop_scope="session")


@pytest_asyncio.fixture(loop_scope="session")
async def records(tmp_path: Path) -> AsyncIterator[tuple[Records, Path]]:
    path = tmp_path / "writer.db"
    engine = create_engine(f"sqlite+aiosqlite:///{path}", timeout=2)
    await migrate.upgrade(engine)
    db = Database(engine, timeout=2)
    try:
        yield Records(db), path
    finally:
        await db.close()
        await engine.dispose()


def change(name: str) -> Change:
    return Change(action=Action.CREATE, resource=Resource.CLUSTERS, namespace="ns", name=name, user="u")


def hold_write_lock(path: Path, seconds: float, held: threading.Event) -> None:
    """Another process's writer: holds the file's write lock for ``seconds``."""
    other = sqlite3.connect(path, isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")
        held.set()
        time.sleep(seconds)
        other.execute("COMMIT")
    finally:
        other.close()


async def test_a_writer_elsewhere_is_waited_for_without_stalling_the_loop(
    records: tuple[Records, Path],
) -> None:
    recorder, path = records
    held = threading.Event()
    holder = threading.Thread(target=hold_write_lock, args=(path, 0.8, held))
    holder.start()
    await asyncio.to_thread(held.wait, 5)
    ticks = 0

    async def tick() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.02)
            ticks += 1

    ticker = asyncio.create_task(tick())
    started = time.monotonic()
    try:
        intent = await recorder.announce(change("waited"))
    finally:
        ticker.cancel()
        holder.join()
    waited = time.monotonic() - started
    assert intent > 0
    assert waited >= 0.5, waited  # it did wait for the lock...
    assert ticks >= 10, ticks  # ...while the event loop went on


async def test_a_writer_elsewhere_that_outlasts_the_bound_is_503(records: tuple[Records, Path]) -> None:
    recorder, path = records
    held = threading.Event()
    holder = threading.Thread(target=hold_write_lock, args=(path, 3.5, held))
    holder.start()
    await asyncio.to_thread(held.wait, 5)
    started = time.monotonic()
    try:
        with pytest.raises(UnavailableError, match="did not answer within 2s"):
            await recorder.announce(change("refused"))
        assert time.monotonic() - started < 2.8
    finally:
        await asyncio.to_thread(holder.join)


async def test_the_write_ahead_log_is_copied_back_into_the_database_file(
    records: tuple[Records, Path],
) -> None:
    recorder, path = records
    before = path.stat().st_size
    for index in range(CHECKPOINT_EVERY + 1):
        await recorder.announce(change(f"c{index}"))
    for _ in range(100):  # the checkpoint runs in the thread, after the commit that called for it
        if path.stat().st_size > before:
            break
        await asyncio.sleep(0.05)
    # The changes reached the database file itself, not only its log (which the writers on the loop never copy).
    assert path.stat().st_size > before
    with sqlite3.connect(path) as reader:
        assert reader.execute("SELECT count(*) FROM audit_events").fetchone()[0] == CHECKPOINT_EVERY + 1
