"""Faults on real processes: a Redis of this test's own, restarted under load, and Celery workers
of its own, killed in the middle of a job — on loopback, bounded in time.

They run in CI's second pass (PostgreSQL, BATON_LIVE_WORKER=1, redis-server installed), where
the test database is real and shared with the worker processes these tests start.

What a user noticed before:
- Redis restarted under load and the Celery worker died (kombu's `restore_unacked` raised
  AttributeError on reconnect); nothing restarted it, while /healthz kept answering 200.
- A worker killed in the middle of a rescoring job left the job "running" for up to an hour.
(`BATON_BROKER_TRANSPORT=redis` runs the workers on kombu's own transport, to see the first fail.)
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from celery import Celery
from django.db import connection

from crm.models import Heartbeat
from handoff.models import Assignment, HandoffMode, HandoffRequest, RoutingRule
from leads.lifecycle import Stage
from leads.models import Job, JobStatus, Lead, ScoringModel, ScoringModelStatus
from tests import factories

pytestmark = [pytest.mark.faults, pytest.mark.django_db(transaction=True, serialized_rollback=True)]
ROOT = Path(__file__).resolve().parent.parent
REDIS_SERVER = shutil.which("redis-server")


@pytest.fixture(autouse=True)
def _only_with_real_services():
    if os.environ.get("BATON_LIVE_WORKER") != "1" or connection.vendor != "postgresql" or not REDIS_SERVER:
        pytest.skip("fault tests need PostgreSQL, redis-server and CI's second pass (BATON_LIVE_WORKER=1)")


def wait_for(probe: Callable[[], Any], *, timeout: float, interval: float = 0.25) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = probe()
        if value:
            return value
        time.sleep(interval)
    return None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class RedisProcess:
    """A redis-server on a loopback port of its own, that keeps nothing on disk."""

    def __init__(self) -> None:
        self.port = free_port()
        self.dir = tempfile.mkdtemp(prefix="baton-faults-redis-")
        self.process: subprocess.Popen | None = None
        self.start()

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = subprocess.Popen(  # noqa: S603 - a fixed command line of this test's own
            [REDIS_SERVER, "--bind", "127.0.0.1", "--port", str(self.port), "--save", "", "--appendonly", "no",
             "--dir", self.dir],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        assert wait_for(self.answers, timeout=10), "redis-server did not start"

    def answers(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def stop(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait(timeout=10)
            self.process = None

    def restart(self, *, down_for: float) -> None:
        self.stop()
        time.sleep(down_for)
        self.start()


class Worker:
    """A Celery worker (prefork, as `make worker` runs) on this test's Redis and database."""

    def __init__(self, redis: RedisProcess, log_dir: Path, **env: str) -> None:
        self.name = f"fault-{uuid.uuid4().hex[:8]}@{socket.gethostname()}"
        settings = connection.settings_dict
        host, port = settings["HOST"] or "127.0.0.1", settings["PORT"] or 5432
        database = f"postgres://{settings['USER']}@{host}:{port}/{settings['NAME']}"
        self.log = log_dir / f"{self.name}.log"
        environment = {**os.environ, "DJANGO_SETTINGS_MODULE": "crm.settings.test", "DATABASE_URL": database,
                       "REDIS_URL": redis.url, "CELERY_TASK_ALWAYS_EAGER": "0", **env}  # fmt: skip
        with self.log.open("w") as out:
            self.process = subprocess.Popen(  # noqa: S603 - a fixed command line of this test's own
                [sys.executable, "-m", "celery", "-A", "crm", "worker", "-l", "info", "--concurrency=2",
                 "-n", self.name, "--without-mingle", "--without-gossip"],
                cwd=ROOT, env=environment, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip

    def alive(self) -> bool:
        return self.process.poll() is None

    def kill(self) -> None:
        """SIGKILL the worker and its pool processes at once: nothing acknowledges, nothing cleans up."""
        if self.alive():
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.alive():
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill()

    def tail(self, lines: int = 40) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])


@pytest.fixture
def redis() -> Iterator[RedisProcess]:
    process = RedisProcess()
    yield process
    process.stop()
    shutil.rmtree(process.dir, ignore_errors=True)


@pytest.fixture
def workers(redis, tmp_path) -> Iterator[Callable[..., Worker]]:
    started: list[Worker] = []

    def start(**env: str) -> Worker:
        worker = Worker(redis, tmp_path, **env)
        started.append(worker)
        assert wait_for(lambda: Heartbeat.objects.filter(name=worker.name).exists(), timeout=45), worker.tail()
        return worker

    yield start
    for worker in started:
        worker.stop()


@pytest.fixture
def sender(redis) -> Iterator[Celery]:
    """Sends tasks by name to this test's Redis, as a web process would."""
    # Not the current app: the tasks other tests send must keep going to the suite's own broker.
    app = Celery("faults", broker=redis.url, set_as_current=False)
    app.conf.update(task_serializer="json", broker_connection_timeout=1, broker_connection_max_retries=0)
    yield app
    app.close()


@pytest.fixture
def broker_asleep(monkeypatch):
    """This test process's own wake-ups are not sent (its tasks would run eagerly, in-process): the
    work waits in the database for the workers this test starts."""
    monkeypatch.setattr("crm.queue.enqueue", lambda *args, **kwargs: False)


def test_the_worker_survives_redis_restarts_under_load_and_catches_up(redis, workers, sender, broker_asleep):
    team = factories_team(reps=3)
    RoutingRule.objects.create(name="All (auto)", team=team, handoff_mode=HandoffMode.AUTOMATIC)
    leads = [factories.lead_at_stage(Stage.MQL) for _ in range(30)]
    assert HandoffRequest.objects.count() == 30
    worker = workers()

    stop = threading.Event()

    def load() -> None:  # a steady stream of short tasks, so some are always in flight
        while not stop.is_set():
            try:
                sender.send_task("handoff.sla_sweep")
                sender.send_task("crm.heartbeat")
            except Exception:  # the broker is down for a moment: a web process would log and go on
                time.sleep(0.2)
            time.sleep(0.01)

    loader = threading.Thread(target=load, daemon=True)
    loader.start()
    try:
        time.sleep(2)
        for down_for in (1.0, 3.0, 0.5, 2.0, 0.2):
            redis.restart(down_for=down_for)
            time.sleep(2)
            assert worker.alive(), f"the worker died when Redis restarted:\n{worker.tail()}"
    finally:
        stop.set()
        loader.join(timeout=10)

    assert worker.alive(), worker.tail()
    restarted_at = time.time()
    # Back at work: the hand-off requests the database kept are drained by the worker.
    wait_for(lambda: send_quietly(sender, "handoff.drain_handoff_requests") and
             Assignment.objects.filter(lead__in=leads, is_open=True).count() == 30, timeout=40, interval=1)  # fmt: skip
    assert Assignment.objects.filter(lead__in=leads, is_open=True).count() == 30, worker.tail()
    assert not HandoffRequest.objects.exists()
    after = _aware(restarted_at)
    beat = wait_for(lambda: Heartbeat.objects.filter(name=worker.name, at__gte=after).first(), timeout=40)
    assert beat is not None, "the worker's heartbeat did not resume after the restarts"


def test_a_job_whose_worker_is_killed_is_restarted_by_the_sweep_and_finishes(redis, workers, sender):
    Lead.objects.bulk_create(
        [Lead(email=f"fault{i}@jobs.example", first_name="F", last_name=str(i)) for i in range(3000)], batch_size=1000
    )
    model = ScoringModel.objects.get(status=ScoringModelStatus.ACTIVE)
    # Ten leads a batch: 300 batches, long enough to kill the worker in the middle.
    job = Job.objects.create(kind="rescore_all", params={"model_id": model.pk, "batch_size": 10})
    stale = {"BATON_STALE_JOB_MINUTES": "0.1"}  # 6 s without progress: abandoned
    first = workers(**stale)
    sender.send_task("leads.run_rescore_all", kwargs={"job_id": job.pk})
    assert wait_for(lambda: Job.objects.filter(pk=job.pk, done__gte=5).exists(), timeout=30), first.tail()

    first.kill()
    killed = Job.objects.get(pk=job.pk)
    assert killed.status == JobStatus.RUNNING
    assert killed.done < killed.total, "the job finished before the worker could be killed: make it longer"

    workers(**stale)  # a new worker; beat would send the sweep every minute, here every second
    finished = wait_for(
        lambda: send_quietly(sender, "leads.sweep_stale_jobs")
        and Job.objects.filter(pk=job.pk, status__in=[JobStatus.DONE, JobStatus.FAILED]).first(),
        timeout=90,
        interval=1,
    )
    assert finished is not None, f"the job is still {Job.objects.get(pk=job.pk).status}"
    assert finished.status == JobStatus.DONE, finished.error
    assert finished.attempts == 2
    assert "restarted, no progress for" in finished.notes[0]
    assert not Lead.objects.filter(email__endswith="@jobs.example", scored_at__isnull=True).exists()


# --- helpers ---------------------------------------------------------------------------------


def factories_team(*, reps: int):  # type: ignore[no-untyped-def]
    from handoff.models import BusinessCalendar, SlaPolicy, Team, TeamMembership

    calendar = BusinessCalendar.objects.create(
        name="Always open", time_zone="UTC", hours={str(day): [["00:00", "24:00"]] for day in range(7)}
    )
    policy = SlaPolicy.objects.create(name="Faults 60", calendar=calendar, first_touch_minutes=60)
    team = Team.objects.create(name="Faults", default_sla_policy=policy)
    for index in range(reps):
        TeamMembership.objects.create(team=team, rep=factories.sdr(username=f"fault-rep-{index}"), capacity=100)
    return team


def send_quietly(app: Celery, name: str) -> bool:
    try:
        app.send_task(name)
    except Exception:  # Redis still restarting: try again next time
        return True
    return True


def _aware(epoch: float):  # type: ignore[no-untyped-def]
    from datetime import UTC, datetime

    return datetime.fromtimestamp(epoch, tz=UTC)
