"""The Celery application. All Celery settings live in crm/settings/base.py (CELERY_*).

Every worker writes its heartbeat to the database every HEARTBEAT_SECONDS (`WorkerHeartbeat`,
a worker bootstep on the worker's own timer, so it says "this worker's event loop is alive"
whether or not beat or the broker are); beat writes its own from its scheduler (crm/beat.py).
"""

import logging
import os

from celery import Celery, bootsteps

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "crm.settings.base")

logger = logging.getLogger(__name__)

app = Celery("baton")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


class WorkerHeartbeat(bootsteps.StartStopStep):
    """Record this worker's heartbeat now and every HEARTBEAT_SECONDS while it runs."""

    requires = {"celery.worker.components:Timer"}

    def __init__(self, worker, **kwargs):  # type: ignore[no-untyped-def]
        super().__init__(worker, **kwargs)
        self.timer_ref = None

    def start(self, worker):  # type: ignore[no-untyped-def]
        from crm.heartbeats import HEARTBEAT_SECONDS

        self.beat(worker)
        self.timer_ref = worker.timer.call_repeatedly(HEARTBEAT_SECONDS, self.beat, (worker,), priority=10)

    def stop(self, worker):  # type: ignore[no-untyped-def]
        if self.timer_ref is not None:
            self.timer_ref.cancel()
            self.timer_ref = None

    def beat(self, worker):  # type: ignore[no-untyped-def]
        from django.db import connection

        from crm.heartbeats import heartbeat_record
        from crm.models import HeartbeatKind

        try:
            heartbeat_record(kind=HeartbeatKind.WORKER, name=worker.hostname)
        except Exception:  # the heartbeat must never stop the worker; /healthz shows it stale
            logger.exception("Could not record the worker heartbeat")
        finally:
            connection.close()  # one write every 30 s: no connection held in between


app.steps["worker"].add(WorkerHeartbeat)
