"""Background pruning of audit rows and deleted-resource history older than the retention period."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging

from service.db.records import Records, utcnow
from service.errors import ApiError

log = logging.getLogger("kuberay_apiserver.retention")

# A zero or negative interval would otherwise turn the loop into a busy spin against the database.
MIN_INTERVAL = 0.1


async def prune_forever(records: Records, retention_days: float, interval: float) -> None:
    """Every ``interval`` seconds, delete rows older than ``retention_days``; returns only when cancelled.

    A failing run is logged and retried at the next interval: pruning is housekeeping and must never take the
    service down.
    """
    keep = dt.timedelta(days=retention_days)
    pause = max(interval, MIN_INTERVAL)
    while True:
        try:
            removed = await records.prune(utcnow() - keep)
        except ApiError as exc:  # the database is down or slow: Records already counted it in the metrics
            log.warning("pruning the audit trail failed, retrying in %ss: %s", pause, exc.message)
        except Exception:
            log.exception("pruning the audit trail failed unexpectedly, retrying in %ss", pause)
        else:
            level = logging.INFO if removed else logging.DEBUG
            log.log(level, "pruned %d audit and history rows older than %s days", removed, retention_days)
        await asyncio.sleep(pause)
