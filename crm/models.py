"""What the project itself keeps: the heartbeats of its background processes."""

from __future__ import annotations

from django.db import models


class HeartbeatKind(models.TextChoices):
    WORKER = "worker", "Celery worker"
    BEAT = "beat", "Celery beat"


class Heartbeat(models.Model):
    """The latest sign of life of one background process: a worker (one row per worker name,
    written every HEARTBEAT_SECONDS by a worker bootstep) or beat (written as its scheduler
    ticks). In the database, not the cache, so /healthz can tell while Redis is down."""

    name = models.CharField(max_length=200, primary_key=True)
    kind = models.CharField(max_length=10, choices=HeartbeatKind.choices)
    at = models.DateTimeField()
    pid = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["kind", "name"]
        permissions = [("view_system_status", "Can see the status of the database, Redis, workers and beat")]

    def __str__(self) -> str:
        return f"{self.name} at {self.at:%Y-%m-%d %H:%M:%S}"
