"""Sending Celery tasks so that a broker outage never fails the request that sends them.

Every task Baton sends is a wake-up for work the database already records — a hand-off or
rescore request, a job row, a notification not yet e-mailed — written in the transaction that
made it necessary. So when Redis is down the request that committed that work must still answer
normally: the message is logged as not sent, and the beat sweeps (which run as soon as the broker
is back) find the rows and do the work. `enqueue_on_commit` is how services send tasks: after
commit, never inside the transaction.

In the test settings tasks run eagerly: their own exceptions still propagate; only the broker's
connection errors are absorbed here.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from django.db import transaction
from kombu.exceptions import OperationalError as BrokerUnavailable

logger = logging.getLogger(__name__)


def enqueue(task: Any, /, *, countdown: float | None = None, **kwargs: Any) -> bool:
    """Send `task` with these keyword arguments; False (logged) if the broker is unreachable."""
    try:
        task.apply_async(kwargs=kwargs, countdown=countdown)
    except BrokerUnavailable as exc:
        logger.warning("Broker unreachable, %s not sent (the sweeps will pick the work up): %s", task.name, exc)
        return False
    return True


def enqueue_on_commit(task: Any, /, *, countdown: float | None = None, **kwargs: Any) -> None:
    """`enqueue` once the current transaction commits (at once outside a transaction)."""
    transaction.on_commit(lambda: enqueue(task, countdown=countdown, **kwargs))


def on_commit_safely(callback: Callable[[], Any]) -> None:
    """Run `callback` after commit, absorbing broker outages as `enqueue` does (for callbacks
    that decide what to send when they run)."""

    def run() -> None:
        try:
            callback()
        except BrokerUnavailable as exc:
            logger.warning("Broker unreachable, a wake-up was not sent (the sweeps will pick the work up): %s", exc)

    transaction.on_commit(run)
