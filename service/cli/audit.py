"""``kuberay-apiserver audit``: read the audit trail straight from the database, with the API's filters."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

import click

from service.errors import ApiError, InvalidInputError

if TYPE_CHECKING:  # the database modules load only when the command runs, to keep the CLI quick to start
    from service.db.audit import AuditFilter
    from service.schemas.audit import AuditEvent

COLUMNS = ("TIME", "USER", "ACTION", "RESOURCE", "NAMESPACE", "NAME", "OUTCOME", "CODE", "MESSAGE")
MESSAGE_WIDTH = 80


@click.command()
@click.option("--user", default=None, help="Only events by this user.")
@click.option("--requested-user", default=None, help="Only events whose request body named this user.")
@click.option("--auth-method", default=None, help="none, token, oidc or proxy: how the user was verified.")
@click.option("--source-ip", default=None, help="Only events from this address.")
@click.option("--namespace", default=None, help="Only events in this namespace.")
@click.option("--resource", default=None, help="computeTemplates, clusters, jobs or services.")
@click.option("--name", default=None, help="Only events about resources of this name.")
@click.option("--action", default=None, help="CREATE, UPDATE or DELETE.")
@click.option("--outcome", default=None, help="PENDING, SUCCESS or FAILURE.")
@click.option("--since", default=None, help="Events at or after this RFC 3339 time.")
@click.option("--until", default=None, help="Events before this RFC 3339 time.")
@click.option("--limit", type=click.IntRange(min=1), default=100, show_default=True, help="Events to show.")
@click.option("--format", "output", type=click.Choice(["table", "json"]), default="table", show_default=True)
@click.option(
    "--database-url",
    default=None,
    help="SQLAlchemy async URL (default: KUBERAY_APISERVER_DATABASE_URL, then the service's default).",
)
def audit(
    user: str | None,
    requested_user: str | None,
    auth_method: str | None,
    source_ip: str | None,
    namespace: str | None,
    resource: str | None,
    name: str | None,
    action: str | None,
    outcome: str | None,
    since: str | None,
    until: str | None,
    limit: int,
    output: str,
    database_url: str | None,
) -> None:
    """Show the audit trail, newest first, from the service's database."""
    from service.managers.audit import build_filter
    from service.settings import load_settings

    try:
        settings = load_settings(os.environ, database_url=database_url)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    params = {
        "user": user,
        "requestedUser": requested_user,
        "authMethod": auth_method,
        "sourceIp": source_ip,
        "resource": resource,
        "name": name,
        "action": action,
        "outcome": outcome,
        "since": since,
        "until": until,
    }
    try:
        where = build_filter(params, namespace or None)
        _require_sqlite_file(settings.database_url)
        events = asyncio.run(_query(settings.database_url, settings.db_timeout, where, limit))
    except InvalidInputError as exc:
        click.echo(exc.message, err=True)
        sys.exit(2)
    except ApiError as exc:
        click.echo(exc.message, err=True)
        sys.exit(1)
    if output == "json":
        from service.schemas.audit import ListAuditEventsResponse
        from service.schemas.base import encode

        click.echo(encode(ListAuditEventsResponse(events=events)).decode())
    else:
        click.echo(render_table(events), nl=False)


async def _query(url: str, db_timeout: float, where: AuditFilter, limit: int) -> list[AuditEvent]:
    from service.db.audit import query_audit
    from service.db.engine import create_engine
    from service.db.session import Database
    from service.managers.audit import to_event

    engine = create_engine(url, db_timeout)
    try:
        rows = await query_audit(Database(engine, db_timeout), where, limit, None)
        return [to_event(row) for row in rows]
    finally:
        await engine.dispose()


def _require_sqlite_file(url: str) -> None:
    """Refuse a missing SQLite file: connecting would create an empty database and report no events."""
    from pathlib import Path

    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    path = parsed.database or ""
    if parsed.get_backend_name() == "sqlite" and path not in ("", ":memory:") and not Path(path).exists():
        raise ApiError(f"no database at {path}: pass --database-url or set KUBERAY_APISERVER_DATABASE_URL")


def render_table(events: Sequence[AuditEvent]) -> str:
    """Aligned columns, one event a line; empty cells show as ``-`` so every line splits into the same fields."""
    rows = [COLUMNS] + [
        (
            e.time,
            e.user or "-",
            e.action,
            e.resource,
            e.namespace or "-",
            e.name or "-",
            e.outcome,
            str(e.code),
            _shorten(e.message) or "-",
        )
        for e in events
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(len(COLUMNS) - 1)]
    lines = ["  ".join([*(c.ljust(w) for c, w in zip(row, widths, strict=False)), row[-1]]) for row in rows]
    return "".join(line.rstrip() + "\n" for line in lines)


def _shorten(message: str) -> str:
    flat = " ".join(message.split())
    return flat if len(flat) <= MESSAGE_WIDTH else flat[: MESSAGE_WIDTH - 1] + "…"
