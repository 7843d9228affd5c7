"""Bounded transactions: every database call ends within its timeout (and the request deadline) or fails as 503.

On SQLite, where one writer at a time holds the file, writes of this process take turns on an asyncio lock
instead of racing for the file lock, so a read-then-write transaction (close a history row unless someone else
did) runs as a unit; on PostgreSQL the same transactions lock their rows (``SELECT ... FOR UPDATE``).

``run`` is for the hot paths (every API change announces and settles through it): the transaction is a plain
function that runs Core statements (``prepared.Statements``). On PostgreSQL it runs on the async connection
(``run_sync``). On a SQLite file it runs right on the event loop, straight on the driver (``prepared``), on a
connection that never waits for a lock and never checkpoints: with
this process's writers taking turns (above) and readers not blocking a WAL writer, such a transaction is a
few inserts and updates into the WAL, done before any thread hand-off could even begin (aiosqlite costs two per
statement). If another process holds the file's write lock, it is run again in a thread of its own that waits
for the lock (within the bound); the WAL is copied back into the database file by that thread too, every few
hundred commits, where the file sync cannot stall the loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from service import deadline
from service.db.engine import sqlite_writer
from service.db.prepared import AlchemyStatements, DriverStatements, Prepared, Statements
from service.errors import ApiError, UnavailableError
from service.metrics import DB_ERRORS

log = logging.getLogger("kuberay_apiserver.db")

# Other processes on the same SQLite file: a read-then-write must not interleave with theirs (see engine.py).
IMMEDIATE = {"sqlite_begin": "IMMEDIATE"}

T = TypeVar("T")

CHECKPOINT_EVERY = 500
"""Commits on the event loop between two checkpoints (copies of the WAL into the database file) in the thread."""


class Database:
    """The engine's sessions, bounded and with failures translated."""

    def __init__(self, engine: AsyncEngine, timeout: float = 10.0) -> None:
        self.engine = engine
        self.timeout = timeout
        self.sessionmaker = async_sessionmaker(engine, expire_on_commit=False)
        self.is_sqlite = engine.dialect.name == "sqlite"
        self._write_lock = asyncio.Lock() if self.is_sqlite else None
        self._inline = sqlite_writer(engine, 0, autocheckpoint=False) if self.is_sqlite else None
        self._writer = sqlite_writer(engine, timeout) if self._inline is not None else None
        self._thread = ThreadPoolExecutor(1, "sqlite-writer") if self._writer is not None else None
        self._prepared = Prepared(engine.dialect)
        self._driver = self._inline.raw_connection() if self._inline is not None else None
        self._uncheckpointed = 0
        self._checkpoints: set[asyncio.Future[None]] = set()

    async def close(self) -> None:
        if self._thread is not None:  # lets a transaction or checkpoint still in the thread finish
            await asyncio.to_thread(self._thread.shutdown)
        if self._driver is not None:
            self._driver.close()
        for writer in (self._inline, self._writer):
            if writer is not None:
                writer.dispose()

    @contextlib.asynccontextmanager
    async def transaction(self, operation: str, *, write: bool = False) -> AsyncIterator[AsyncSession]:
        """A session in a transaction that commits when the block ends; any failure is an ``UnavailableError``."""
        async with self._bounded(operation, write), self.sessionmaker() as session, session.begin():
            if write and self.is_sqlite:
                await session.connection(execution_options=IMMEDIATE)
            yield session

    async def run(self, operation: str, work: Callable[[Statements], T], *, write: bool = False) -> T:
        """``work`` in one transaction, committed when it returns; bounded like ``transaction``.

        A SQLite transaction that outlives its bound still finishes in its thread (a thread cannot be stopped):
        a late announce is a PENDING row the reconciler settles, a late settle is just late.
        """
        async with self._bounded(operation, write):
            if self._driver is None or self._writer is None:
                async with self.engine.connect() as connection:
                    if write and self.is_sqlite:
                        connection = await connection.execution_options(**IMMEDIATE)
                    async with connection.begin():
                        return await connection.run_sync(lambda sync: work(AlchemyStatements(sync)))
            statements = DriverStatements(self._driver.driver_connection, self._prepared)
            try:
                result = _transaction(statements, work, write)
            except sqlite3.OperationalError as exc:
                if exc.sqlite_errorcode not in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED):
                    raise
                # Another process writes to the file: wait for it in the thread, not on the loop.
                loop = asyncio.get_running_loop()
                result = await loop.run_in_executor(self._thread, self._in_thread, work, write)
            if write:
                self._after_commit()
            return result

    def _after_commit(self) -> None:
        self._uncheckpointed += 1
        if self._uncheckpointed < CHECKPOINT_EVERY or self._checkpoints:
            return
        self._uncheckpointed = 0
        loop = asyncio.get_running_loop()
        checkpoint = loop.run_in_executor(self._thread, self._checkpoint)
        self._checkpoints.add(checkpoint)
        checkpoint.add_done_callback(self._checkpoints.discard)

    def _in_thread(self, work: Callable[[Statements], T], write: bool) -> T:
        assert self._writer is not None
        connection = self._writer.raw_connection()
        try:
            return _transaction(DriverStatements(connection.driver_connection, self._prepared), work, write)
        finally:
            connection.close()

    def _checkpoint(self) -> None:
        """Copy the WAL into the database file as far as no reader still needs it (never blocks anyone)."""
        assert self._writer is not None
        try:
            connection = self._writer.raw_connection()
            try:
                connection.cursor().execute("PRAGMA wal_checkpoint(PASSIVE)")
            finally:
                connection.close()
        except (sqlite3.Error, SQLAlchemyError) as exc:
            log.warning("SQLite checkpoint failed (retried after more commits): %s", type(exc).__name__)

    @contextlib.asynccontextmanager
    async def _bounded(self, operation: str, write: bool) -> AsyncIterator[None]:
        limit = deadline.budget(self.timeout)
        try:
            async with asyncio.timeout(limit):
                lock = self._write_lock if write else None
                async with lock or contextlib.nullcontext():
                    yield
        except ApiError:
            raise
        except TimeoutError:
            DB_ERRORS.labels(operation=operation).inc()
            raise UnavailableError(f"the database did not answer within {limit:g}s ({operation})") from None
        except (SQLAlchemyError, sqlite3.Error, OSError) as exc:
            DB_ERRORS.labels(operation=operation).inc()
            raise UnavailableError(f"the database failed ({operation}): {type(exc).__name__}") from None
        except Exception as exc:
            # Drivers raise their own types for some connection failures (asyncpg on connect, for example).
            DB_ERRORS.labels(operation=operation).inc()
            log.exception("unexpected database failure (%s)", operation)
            raise UnavailableError(f"the database failed ({operation}): {type(exc).__name__}") from None


def _transaction(statements: DriverStatements, work: Callable[[Statements], T], write: bool) -> T:
    """``work`` between BEGIN and COMMIT on a SQLite connection in autocommit mode (rolled back if it fails)."""
    connection = statements.connection
    # IMMEDIATE takes the write lock first, so that the reads deciding a write see what it then changes.
    connection.execute("BEGIN IMMEDIATE" if write else "BEGIN")
    try:
        result = work(statements)
    except BaseException:
        connection.execute("ROLLBACK")
        raise
    connection.execute("COMMIT")
    return result
