"""Bounded transactions: every database call ends within its timeout (and the request deadline) or fails as 503.

On SQLite, where one writer at a time holds the file, writes of this process take turns on an asyncio lock
instead of racing for the file lock, so a read-then-write transaction (close a history row unless someone else
did) runs as a unit; on PostgreSQL the same transactions lock their rows (``SELECT ... FOR UPDATE``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, async_sessionmaker

from service import deadline
from service.errors import ApiError, UnavailableError
from service.metrics import DB_ERRORS

log = logging.getLogger("kuberay_apiserver.db")

# Other processes on the same SQLite file: a read-then-write must not interleave with theirs (see engine.py).
IMMEDIATE = {"sqlite_begin": "IMMEDIATE"}


class Database:
    """The engine's sessions, bounded and with failures translated."""

    def __init__(self, engine: AsyncEngine, timeout: float = 10.0) -> None:
        self.engine = engine
        self.timeout = timeout
        self.sessionmaker = async_sessionmaker(engine, expire_on_commit=False)
        self.is_sqlite = engine.dialect.name == "sqlite"
        self._write_lock = asyncio.Lock() if self.is_sqlite else None

    @contextlib.asynccontextmanager
    async def transaction(self, operation: str, *, write: bool = False) -> AsyncIterator[AsyncSession]:
        """A session in a transaction that commits when the block ends; any failure is an ``UnavailableError``."""
        async with self._bounded(operation, write), self.sessionmaker() as session, session.begin():
            if write and self.is_sqlite:
                await session.connection(execution_options=IMMEDIATE)
            yield session

    @contextlib.asynccontextmanager
    async def statements(self, operation: str, *, write: bool = False) -> AsyncIterator[AsyncConnection]:
        """Like ``transaction`` but a bare connection, for the hot paths: Core statements skip the ORM's work."""
        async with self._bounded(operation, write), self.engine.connect() as connection:
            if write and self.is_sqlite:
                connection = await connection.execution_options(**IMMEDIATE)
            async with connection.begin():
                yield connection

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
        except (SQLAlchemyError, OSError) as exc:
            DB_ERRORS.labels(operation=operation).inc()
            raise UnavailableError(f"the database failed ({operation}): {type(exc).__name__}") from None
        except Exception as exc:
            # Drivers raise their own types for some connection failures (asyncpg on connect, for example).
            DB_ERRORS.labels(operation=operation).inc()
            log.exception("unexpected database failure (%s)", operation)
            raise UnavailableError(f"the database failed ({operation}): {type(exc).__name__}") from None
