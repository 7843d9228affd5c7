"""The migrations build exactly the tables the models describe, and undo them, on every backend."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect
from sqlalchemy.ext.asyncio import AsyncEngine

from service.db import migrate
from service.db.engine import create_engine
from service.db.models import Base
from tests.support import processes

pytestmark = pytest.mark.asyncio(loop_scope="session")

APP_TABLES = {"audit_events", "resources", "heartbeat"}


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "database_url" in metafunc.fixturenames:
        chosen = metafunc.config.getoption("--db")
        dbs = ["sqlite", "postgres"] if chosen == "all" else [chosen]
        metafunc.parametrize("database_url", dbs, indirect=True)


@pytest.fixture
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The URL of a fresh, empty database."""
    if request.param == "postgres":
        return processes.create_database(
            request.getfixturevalue("postgres_url"), f"migrations_{uuid.uuid4().hex[:8]}"
        )
    return f"sqlite+aiosqlite:///{tmp_path / 'migrations.db'}"


@pytest_asyncio.fixture(loop_scope="session")
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    created = create_engine(database_url)
    yield created
    await created.dispose()


async def tables(engine: AsyncEngine) -> set[str]:
    async with engine.connect() as conn:
        return set(await conn.run_sync(lambda sync: inspect(sync).get_table_names()))


async def indexes(engine: AsyncEngine, table: str) -> dict[str, list[str]]:
    async with engine.connect() as conn:
        found = await conn.run_sync(lambda sync: inspect(sync).get_indexes(table))
    return {index["name"]: list(index["column_names"]) for index in found}


async def drift(engine: AsyncEngine) -> list[Any]:
    """What ``alembic revision --autogenerate`` would write: differences between the models and the database."""

    def compare(connection: Any) -> list[Any]:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return list(compare_metadata(context, Base.metadata))

    async with engine.connect() as conn:
        return await conn.run_sync(compare)


def revisions() -> list[str]:
    """Every revision id, oldest first."""
    script = ScriptDirectory.from_config(migrate.alembic_config())
    return [rev.revision for rev in reversed(list(script.walk_revisions()))]


async def test_upgrade_downgrade_upgrade(engine: AsyncEngine) -> None:
    assert not await migrate.is_current(engine)
    await migrate.upgrade(engine)
    assert await migrate.is_current(engine)
    assert await tables(engine) == {*APP_TABLES, "alembic_version"}
    await migrate.upgrade(engine)  # a second run (another replica starting) changes nothing
    assert await migrate.is_current(engine)

    await migrate.downgrade(engine, "base")
    assert not await migrate.is_current(engine)
    assert await tables(engine) - {"alembic_version"} == set()

    await migrate.upgrade(engine)
    assert await migrate.is_current(engine)
    assert await tables(engine) == {*APP_TABLES, "alembic_version"}
    assert await drift(engine) == []


async def test_every_revision_steps_up_and_down(engine: AsyncEngine) -> None:
    """Each migration applies on top of the previous one and its downgrade returns to it."""
    steps = revisions()
    assert steps[0] == "0001"
    for revision in steps:
        await migrate.upgrade(engine, revision)
    assert await migrate.is_current(engine)
    for previous in [*reversed(steps[:-1]), "base"]:
        await migrate.downgrade(engine, previous)
    assert await tables(engine) - {"alembic_version"} == set()


async def test_models_and_migrations_agree(engine: AsyncEngine) -> None:
    await migrate.upgrade(engine)
    assert await drift(engine) == []
    expected = {
        index.name: [c.name for c in index.columns] for index in Base.metadata.tables["audit_events"].indexes
    }
    assert await indexes(engine, "audit_events") == expected
