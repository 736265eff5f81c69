"""Celery entry points for reporting. Thin: a service call, idempotent, bounded retries."""

from __future__ import annotations

from celery import shared_task
from django.db import OperationalError

from reporting import services


@shared_task(
    name="reporting.refresh_funnel_facts",
    ignore_result=True,
    autoretry_for=(OperationalError,),
    retry_backoff=True,
    max_retries=5,
)
def refresh_funnel_facts() -> int:
    """Every minute (beat): apply the queued changes to the funnel pre-aggregation."""
    return services.funnel_facts_refresh()
