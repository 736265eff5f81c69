"""Celery beat's scheduler, writing beat's heartbeat to the database as it ticks.

`CELERY_BEAT_SCHEDULER` points here, so `celery beat` and a worker's embedded beat (`-B`) both
report: /healthz and the status page tell a beat that stopped from one that runs. Beat wakes at
least every CELERY_BEAT_MAX_LOOP_INTERVAL seconds, so the heartbeat is never older than that.
"""

from __future__ import annotations

import logging
import socket
import time
from typing import Any

from celery.beat import PersistentScheduler

logger = logging.getLogger(__name__)


class HeartbeatScheduler(PersistentScheduler):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._last_heartbeat = 0.0

    def tick(self, *args: Any, **kwargs: Any) -> float:
        from crm.heartbeats import HEARTBEAT_SECONDS

        if time.monotonic() - self._last_heartbeat >= HEARTBEAT_SECONDS:
            self._heartbeat()
        return super().tick(*args, **kwargs)

    def _heartbeat(self) -> None:
        from django.db import connection

        from crm.heartbeats import heartbeat_record
        from crm.models import HeartbeatKind

        try:
            heartbeat_record(kind=HeartbeatKind.BEAT, name=f"beat@{socket.gethostname()}")
            self._last_heartbeat = time.monotonic()
        except Exception:  # beat keeps scheduling; /healthz shows its heartbeat stale
            logger.exception("Could not record beat's heartbeat")
        finally:
            connection.close()  # one write every 30 s: no connection held in between
