"""Apply the Alembic migrations that ship with the package."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

# Any constant works; replicas starting together serialise on it so only one runs the migrations.
_PG_LOCK_ID = 0x6B75626572617931


def migrations_dir() -> Path:
    """The Alembic script directory: inside the installed package, or the repository's ``migrations/``."""
    spec = importlib.util.find_spec("service.migrations")
    if spec is not None and spec.submodule_search_locations:
        return Path(next(iter(spec.submodule_search_locations)))
    return Path(__file__).resolve().parents[2] / "migrations"


def alembic_config(url: str = "") -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(migrations_dir()))
    if url:
        cfg.set_main_option("sqlalchemy.url", url)
    return cfg


def _run(connection: Any, cfg: Config, revision: str, downgrade: bool) -> None:
    cfg.attributes["connection"] = connection
    if downgrade:
        command.downgrade(cfg, revision)
    else:
        command.upgrade(cfg, revision)


async def upgrade(engine: AsyncEngine, revision: str = "head") -> None:
    await _migrate(engine, revision, downgrade=False)


async def downgrade(engine: AsyncEngine, revision: str) -> None:
    await _migrate(engine, revision, downgrade=True)


async def _migrate(engine: AsyncEngine, revision: str, downgrade: bool) -> None:
    cfg = alembic_config()
    async with engine.connect() as conn:
        postgres = conn.dialect.name == "postgresql"
        if postgres:
            await conn.execute(text("SELECT pg_advisory_lock(:id)"), {"id": _PG_LOCK_ID})
        try:
            await conn.run_sync(_run, cfg, revision, downgrade)
            await conn.commit()
        finally:
            if postgres:
                await conn.execute(text("SELECT pg_advisory_unlock(:id)"), {"id": _PG_LOCK_ID})
                await conn.commit()


async def is_current(engine: AsyncEngine) -> bool:
    """True when the database is at the newest revision."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()

    def current(connection: Any) -> str | None:
        return MigrationContext.configure(connection).get_current_revision()

    async with engine.connect() as conn:
        return await conn.run_sync(current) == head
