"""Heartbeats of the background processes, and the system status /healthz and the status page show.

Every Celery worker writes its heartbeat every HEARTBEAT_SECONDS (a worker bootstep, crm/celery.py)
and beat writes its own as its scheduler ticks (crm/beat.py); both in the database, so the status
is right while Redis is down. A process whose last heartbeat is older than
BATON_HEARTBEAT_STALE_SECONDS (default 180) is stale, and /healthz answers 503.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.utils import timezone

from crm.models import Heartbeat, HeartbeatKind

HEARTBEAT_SECONDS = 30
# Worker rows not heard from for this long are dropped from the status (a worker that was retired).
FORGET_AFTER = timedelta(days=1)


def stale_after() -> timedelta:
    return timedelta(seconds=getattr(settings, "BATON_HEARTBEAT_STALE_SECONDS", 180))


def heartbeat_record(*, kind: str, name: str, at: datetime | None = None) -> None:
    """Record that a worker or beat is alive (one row per process name)."""
    Heartbeat.objects.update_or_create(
        name=name, defaults={"kind": kind, "at": at or timezone.now(), "pid": os.getpid()}
    )


@dataclass(frozen=True)
class ProcessBeat:
    name: str
    at: datetime
    age: timedelta
    stale: bool


@dataclass
class ProcessStatus:
    """Workers, or beat: the freshest heartbeat decides whether the kind is alive."""

    kind: str
    processes: list[ProcessBeat] = field(default_factory=list)

    @property
    def last_seen(self) -> datetime | None:
        return max((beat.at for beat in self.processes), default=None)

    @property
    def state(self) -> str:
        if not self.processes:
            return "missing"
        return "ok" if any(not beat.stale for beat in self.processes) else "stale"


@dataclass
class SystemStatus:
    database: str
    redis: str  # "ok", "unavailable", or "not configured" (no REDIS_URL: the embedded broker)
    workers: ProcessStatus
    beat: ProcessStatus
    checked_at: datetime

    @property
    def healthy(self) -> bool:
        return (
            self.database == "ok"
            and self.redis != "unavailable"
            and self.workers.state == "ok"
            and self.beat.state == "ok"
        )

    @property
    def problems(self) -> list[str]:
        found = []
        if self.database != "ok":
            found.append("the database is unavailable")
        if self.redis == "unavailable":
            found.append("Redis is unavailable")
        for status, label in ((self.workers, "Celery worker"), (self.beat, "Celery beat")):
            if status.state == "missing":
                found.append(f"no {label} has reported yet")
            elif status.state == "stale":
                silent = int((self.checked_at - status.last_seen).total_seconds())
                found.append(f"no {label} has reported for {silent} s")
        return found


def system_status(*, now: datetime | None = None) -> SystemStatus:
    """The database, Redis and the heartbeats of workers and beat, as of now. Never raises."""
    now = now or timezone.now()
    database, beats = "ok", []
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        beats = list(Heartbeat.objects.filter(at__gte=now - FORGET_AFTER).order_by("-at"))
    except Exception:  # a health check reports every failure, it does not raise
        database = "unavailable"
    redis = "not configured"
    if getattr(settings, "REDIS_URL", ""):
        ping = getattr(cache, "ping", None)
        redis = "ok" if ping is not None and ping() else "unavailable"
    statuses = {kind: ProcessStatus(kind) for kind in HeartbeatKind.values}
    limit = stale_after()
    for beat in beats:
        age = max(now - beat.at, timedelta(0))
        statuses[beat.kind].processes.append(ProcessBeat(beat.name, beat.at, age, age > limit))
    return SystemStatus(database, redis, statuses[HeartbeatKind.WORKER], statuses[HeartbeatKind.BEAT], now)


# Work the database keeps for the background processes, counted on the status page. The apps
# register what they keep (crm knows none of their models): (label, count, who does it).
_backlogs: list[tuple[str, Callable[[], int], str]] = []


def register_backlog(label: str, count: Callable[[], int], done_by: str) -> None:
    if all(existing[0] != label for existing in _backlogs):
        _backlogs.append((label, count, done_by))


def backlog() -> list[tuple[str, int, str]]:
    return [(label, count(), done_by) for label, count, done_by in _backlogs]
