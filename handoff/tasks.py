"""Celery entry points for the handoff. Thin: ids in, a service call, idempotent."""

from __future__ import annotations

from celery import shared_task
from django.db import OperationalError

from handoff import services


@shared_task(name="handoff.sla_sweep", ignore_result=True)
def sla_sweep() -> dict[str, int]:
    return services.sla_sweep()


@shared_task(
    name="handoff.email_notification",
    ignore_result=True,
    autoretry_for=(OSError, OperationalError),
    retry_backoff=True,
    max_retries=5,
)
def email_notification(*, notification_id: int) -> None:
    services.notification_email(notification_id=notification_id)
