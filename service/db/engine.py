"""Engine and session factory for SQLite (aiosqlite) and PostgreSQL (asyncpg)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, event
from sqlalchemy import create_engine as create_sync_engine
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine


def create_engine(url: str, timeout: float = 10.0) -> AsyncEngine:
    """An engine for ``url`` with settings that suit each backend."""
    parsed = make_url(url)
    kwargs: dict[str, Any] = {}
    if parsed.get_backend_name() == "sqlite":
        # A local file never drops a connection, so no ping on checkout (each would cost a thread hop).
        kwargs["connect_args"] = {"timeout": timeout}
        # Every use ends its transaction (commit, or rollback on error or close), so the pool's rollback on
        # return would only cost one more hop to the driver's thread per transaction.
        kwargs["pool_reset_on_return"] = None
        engine = create_async_engine(url, **kwargs)
        _configure_sqlite(engine.sync_engine, timeout)
        return engine
    if parsed.get_backend_name() == "postgresql":
        # Server restarts and idle-connection reapers do drop connections: check before use.
        kwargs["pool_pre_ping"] = True
        kwargs["connect_args"] = {"timeout": timeout, "command_timeout": timeout}
        kwargs["pool_size"] = 10
    return create_async_engine(url, **kwargs)


def sqlite_writer(engine: AsyncEngine, busy_timeout: float, *, autocheckpoint: bool = True) -> Engine | None:
    """A synchronous engine on the same SQLite file, for whole transactions run by one caller (see session.py).

    ``busy_timeout`` is how long a statement waits for another process's write lock (0: fail at once);
    without ``autocheckpoint`` its commits never copy the WAL back into the database file (someone else must).
    None for anything but a file database (an in-memory one would be a different database).
    """
    url = engine.url
    if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
        return None
    writer = create_sync_engine(
        url.set(drivername="sqlite+pysqlite"),
        connect_args={"timeout": busy_timeout, "check_same_thread": False},
        pool_reset_on_return=None,
        pool_size=1,
        max_overflow=0,
    )
    _configure_sqlite(writer, busy_timeout, autocheckpoint=autocheckpoint)
    return writer


def _configure_sqlite(engine: Engine, timeout: float, *, autocheckpoint: bool = True) -> None:
    busy_ms = int(timeout * 1000)

    def pragmas(dbapi_connection: Any, _record: Any) -> None:
        # WAL lets readers run beside the single writer; busy_timeout waits (within the call's own bound)
        # instead of failing at once when another process holds the file.
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        # In WAL mode, NORMAL syncs at checkpoints rather than at every commit: a killed process loses
        # nothing committed (the WAL is in the file system); only a power loss may lose the last commits.
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute(f"PRAGMA busy_timeout={busy_ms}")
        cursor.execute("PRAGMA foreign_keys=ON")
        if not autocheckpoint:
            cursor.execute("PRAGMA wal_autocheckpoint=0")
        cursor.close()
        # The driver would start a transaction only at the first write, after the reads that decided it; we
        # begin it ourselves (below), so that a writing transaction holds the write lock from its first read.
        dbapi_connection.isolation_level = None

    def begin(connection: Any) -> None:
        mode = connection.get_execution_options().get("sqlite_begin", "")
        connection.exec_driver_sql(f"BEGIN {mode}".strip())

    event.listen(engine, "connect", pragmas)
    event.listen(engine, "begin", begin)
