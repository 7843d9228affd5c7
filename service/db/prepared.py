"""Core statements run straight on the SQLite driver: the transactions of every change, on their hot path.

SQLAlchemy still writes the SQL: each statement is compiled once per set of parameter names, and values pass
through the column types' own bind and result processors (JSON, times). What is left per statement is the
driver's call; SQLAlchemy's execution machinery around it costs several times SQLite's own work.
"""

from __future__ import annotations

import collections
import dataclasses
import sqlite3
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol, cast

from sqlalchemy import Connection, Dialect, Table
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.expression import ClauseElement, Executable

Processor = Callable[[Any], Any] | None


class Rows(Protocol):
    def first(self) -> Any: ...

    def scalar_one(self) -> Any: ...


class Statements(Protocol):
    """What a transaction's work is given: a way to run Core statements with named parameters."""

    def execute(self, statement: Executable, parameters: Mapping[str, Any]) -> Rows: ...


class AlchemyStatements:
    """Statements on a SQLAlchemy connection (PostgreSQL, through the async driver)."""

    def __init__(self, connection: Connection) -> None:
        self.connection = connection

    def execute(self, statement: Executable, parameters: Mapping[str, Any]) -> Rows:
        return self.connection.execute(statement, dict(parameters))


@dataclasses.dataclass(frozen=True)
class _Prepared:
    sql: str
    names: tuple[str, ...]
    """The parameters in the order the SQL takes them."""
    processors: tuple[Processor, ...]
    fixed: dict[str, Any]
    """Values of parameters a call does not give: the statement's own literals and the columns' defaults."""
    row: type[tuple[Any, ...]] | None
    results: tuple[Processor, ...]


class _Rows:
    def __init__(self, rows: list[Any]) -> None:
        self.rows = rows

    def first(self) -> Any:
        return self.rows[0] if self.rows else None

    def scalar_one(self) -> Any:
        if len(self.rows) != 1:
            raise LookupError(f"expected one row, got {len(self.rows)}")
        return self.rows[0][0]


class Prepared:
    """The compiled forms of statements for one dialect, shared by the connections that run them."""

    def __init__(self, dialect: Dialect) -> None:
        self.dialect = dialect
        self._cache: dict[tuple[Executable, frozenset[str]], _Prepared] = {}

    def get(self, statement: Executable, given: frozenset[str]) -> _Prepared:
        key = (statement, given)  # statements hash by identity: the hot path's are built once, at import
        found = self._cache.get(key)
        if found is None:
            found = self._cache[key] = self._prepare(statement, given)
        return found

    def _prepare(self, statement: Executable, given: frozenset[str]) -> _Prepared:
        table: Table | None = getattr(statement, "table", None)
        columns = {column.key: column for column in table.columns} if table is not None else {}
        element = cast(ClauseElement, statement)
        compiled = cast(
            SQLCompiler,
            element.compile(dialect=self.dialect, column_keys=[key for key in given if key in columns]),
        )
        names = tuple(compiled.positiontup or ())
        fixed: dict[str, Any] = {}
        for name in names:
            if name in given:
                continue
            column = columns.get(name)
            if column is not None and column.default is not None and column.default.is_scalar:
                fixed[name] = column.default.arg  # type: ignore[attr-defined]
            else:
                fixed[name] = compiled.binds[name].effective_value
        processors = tuple(
            compiled.binds[name].type.dialect_impl(self.dialect).bind_processor(self.dialect)
            for name in names
        )
        selected = list(getattr(statement, "exported_columns", ()))
        row = collections.namedtuple("Row", [column.key for column in selected]) if selected else None
        results = tuple(
            column.type.dialect_impl(self.dialect).result_processor(self.dialect, None) for column in selected
        )
        return _Prepared(compiled.string, names, processors, fixed, row, results)


class DriverStatements:
    """Statements on a sqlite3 connection in autocommit mode (the transaction is begun and ended by the caller)."""

    def __init__(self, connection: Any, prepared: Prepared) -> None:
        assert isinstance(connection, sqlite3.Connection)
        self.connection = connection
        self.prepared = prepared

    def execute(self, statement: Executable, parameters: Mapping[str, Any]) -> Rows:
        prepared = self.prepared.get(statement, frozenset(parameters))
        values = [
            processor(value) if processor is not None else value
            for processor, value in zip(
                prepared.processors,
                (parameters[n] if n in parameters else prepared.fixed[n] for n in prepared.names),
                strict=True,
            )
        ]
        cursor = self.connection.execute(prepared.sql, values)
        if prepared.row is None:
            return _Rows([])
        return _Rows([_converted(prepared, raw) for raw in cursor.fetchall()])


def _converted(prepared: _Prepared, raw: Sequence[Any]) -> Any:
    assert prepared.row is not None
    return prepared.row(
        *(
            processor(value) if processor is not None else value
            for processor, value in zip(prepared.results, raw, strict=True)
        )
    )
