"""Operational tasks of the project itself."""

from __future__ import annotations

from celery import shared_task
from django.core.cache import cache
from django.utils import timezone

HEARTBEAT_KEY = "baton:worker-heartbeat"


@shared_task(name="crm.heartbeat", ignore_result=True)
def heartbeat() -> str:
    """Record that a worker is alive; beat sends this every minute and /healthz reads it."""
    now = timezone.now().isoformat()
    cache.set(HEARTBEAT_KEY, now, timeout=60 * 60)
    return now
