"""Kubernetes events (``events.k8s.io/v1``) as API events, and the timestamp spelling of responses."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from service.schemas.common import Event

# protojson prints Go's zero time.Time this way; upstream always sets event timestamps.
ZERO_TIME = "0001-01-01T00:00:00Z"


def api_time(value: Any, default: str = "") -> str:
    """A Kubernetes timestamp as the API prints it: RFC 3339, UTC, whole seconds (``default`` when unset)."""
    if not value:
        return default
    if isinstance(value, dt.datetime):
        moment = value
    else:
        try:
            moment = dt.datetime.fromisoformat(str(value))
        except ValueError:
            return default
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def event_from_kube(event: Mapping[str, Any], name_prefix: str) -> Event:
    """An ``events.k8s.io/v1`` Event as a ClusterEvent / RayServiceEvent.

    ``name_prefix`` is the cluster name (label ``ray.io/cluster-name``) or the service name.
    """
    metadata = event.get("metadata") or {}
    name = metadata.get("name", "")
    series = event.get("series")
    event_time = event.get("eventTime")
    if series:
        last = series.get("lastObservedTime")
        count = series.get("count", 0)
    else:
        last = event.get("deprecatedLastTimestamp") or event_time
        count = event.get("deprecatedCount", 0)
    return Event(
        id=name,
        name=f"{name_prefix}-{name}",
        created_at=api_time(metadata.get("creationTimestamp"), ZERO_TIME),
        first_timestamp=api_time(event_time or event.get("deprecatedFirstTimestamp"), ZERO_TIME),
        last_timestamp=api_time(last, ZERO_TIME),
        reason=event.get("reason", ""),
        message=event.get("note", ""),
        type=event.get("type", ""),
        count=int(count or 0),
    )
