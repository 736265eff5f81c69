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


@shared_task(
    name="handoff.email_notifications",
    ignore_result=True,
    autoretry_for=(OSError, OperationalError),
    retry_backoff=True,
    max_retries=5,
)
def email_notifications(*, notification_ids: list[int]) -> None:
    """A batch of notifications e-mailed (each once: a retry skips those already sent)."""
    services.notifications_email(notification_ids=notification_ids)


@shared_task(
    name="handoff.drain_handoff_requests",
    ignore_result=True,
    autoretry_for=(OperationalError,),
    retry_backoff=True,
    max_retries=5,
)
def drain_handoff_requests() -> int:
    """Hand off the MQLs whose rule is automatic or that are fast-tracked (after commit, and every minute)."""
    from handoff import automation

    return automation.handoff_requests_drain().handed_off


@shared_task(name="handoff.review_sweep", ignore_result=True)
def review_sweep() -> dict[str, int]:
    """Flag MQLs waiting for review longer than the review policy allows (every minute)."""
    from handoff import automation

    return automation.review_sweep()


@shared_task(name="handoff.email_pending_notifications", ignore_result=True)
def email_pending_notifications() -> int:
    """Every five minutes: e-mail notifications whose own e-mail task was never sent."""
    return services.notifications_email_pending()
