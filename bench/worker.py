"""A real Celery worker for the benchmarks that measure what happens after commit (speed_to_lead,
mql_burst), and the switches that send this process's tasks to it.

The rest of the harness sends tasks to an in-process broker nobody consumes (`harness.setup_django`).
Here, for the length of a `live_worker()` block:

- the benchmark process sends its tasks to the configured broker (REDIS_URL), as a web process does;
- a worker is started as a subprocess, `celery -A crm worker --pool=threads --concurrency=4`, with
  this process's environment (so the same database and Redis), and the block starts once it
  answers a ping; at the end of the block it is given time to finish what was enqueued (untimed:
  the notifications' e-mails, say), then stopped — at once on an error or Ctrl-C (warm shutdown,
  then killed after 30 s).

It refuses to start when another worker already consumes that broker (it might work for another
database), and purges the broker's queue first: messages an interrupted run left would name rows
of whatever database that run used. Use a Redis database of your own (`redis://…/9`).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from amqp.exceptions import ChannelError

CONCURRENCY = 4
START_TIMEOUT_S = 60
STOP_TIMEOUT_S = 30
SETTLE_TIMEOUT_S = 300
ROOT = Path(__file__).resolve().parent.parent


def redis_url() -> str:
    """The Redis the settings use (cache and broker), or "" without one."""
    from django.conf import settings

    return str(getattr(settings, "REDIS_URL", "") or "")


def _drop_pool(app: Any) -> None:
    """Forget the app's broker connection pool, so the next task is sent with the current conf.
    (Not closed: kombu keeps one pool per broker URL for the process and hands the same one out
    again when the app comes back to that URL.)"""
    app._pool = None
    amqp = app.__dict__.get("amqp")
    if amqp is not None:
        amqp._producer_pool = None


@contextmanager
def broker(url: str, transport_options: dict[str, Any] | None = None) -> Iterator[Any]:
    """Send this process's tasks to `url` for the block; afterwards back to the broker before."""
    from crm.celery import app

    saved = (app.conf.broker_url, app.conf.broker_transport_options)
    _drop_pool(app)
    app.conf.broker_url, app.conf.broker_transport_options = url, transport_options or {}
    try:
        yield app
    finally:
        _drop_pool(app)
        app.conf.broker_url, app.conf.broker_transport_options = saved


@contextmanager
def eager(on: bool) -> Iterator[None]:
    """CELERY_TASK_ALWAYS_EAGER on or off for the block: on, a task runs where it is enqueued
    (after commit, inside the request that committed)."""
    from crm.celery import app

    saved = app.conf.task_always_eager
    app.conf.task_always_eager = on
    try:
        yield
    finally:
        app.conf.task_always_eager = saved


@dataclass
class Worker:
    name: str
    process: subprocess.Popen[bytes]
    log: Path
    started_s: float  # from the start of the process to its first answered ping
    purged: int  # messages left in the queue by an earlier run, purged before starting
    settle_s: float | None = None  # after the block, until it had done what the block enqueued

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"


@contextmanager
def live_worker(concurrency: int = CONCURRENCY) -> Iterator[Worker]:
    """A Celery worker on the configured broker, and this process's tasks sent there."""
    from django.conf import settings

    url = settings.CELERY_BROKER_URL
    if not redis_url() or not str(url).startswith(("redis://", "rediss://")):
        raise SystemExit("A live worker needs REDIS_URL (the broker it shares with this process).")
    with broker(url, dict(settings.CELERY_BROKER_TRANSPORT_OPTIONS)) as app:
        others = app.control.ping(timeout=1.0)
        if others:
            names = ", ".join(sorted(name for reply in others for name in reply))
            raise SystemExit(
                f"Workers already consume {url} ({names}): they may work for another database. Stop them, "
                "or give the benchmark a Redis database of its own (REDIS_URL=redis://127.0.0.1:6379/9)."
            )
        purged = app.control.purge() or 0
        name = f"bench-{os.getpid()}@{socket.gethostname()}"
        folder = Path(tempfile.mkdtemp(prefix="baton-bench-worker-"))
        log = folder / "worker.log"
        started = time.perf_counter()
        with log.open("wb") as out:
            process = subprocess.Popen(  # noqa: S603 - our own module, fixed arguments
                [
                    sys.executable, "-m", "celery", "-A", "crm", "worker", "--pool=threads",
                    f"--concurrency={concurrency}", "-n", name, "-l", "info",
                ],
                cwd=ROOT, env={**os.environ, "PYTHONUNBUFFERED": "1"}, stdout=out, stderr=subprocess.STDOUT,
            )  # fmt: skip
        worker = Worker(name, process, log, 0.0, purged)
        failed = True
        try:
            _wait_until_it_answers(app, worker)
            worker.started_s = round(time.perf_counter() - started, 1)
            yield worker
            failed = False
            worker.settle_s = _settle(app, worker)
        finally:
            _stop(worker)
            if failed:
                print(f"bench worker log (kept): {log}\n{worker.log_tail()}", file=sys.stderr)
            else:
                log.unlink(missing_ok=True)
                folder.rmdir()


def _wait_until_it_answers(app: Any, worker: Worker) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while True:
        if worker.process.poll() is not None:
            raise RuntimeError(f"the Celery worker exited ({worker.process.returncode}):\n{worker.log_tail()}")
        if app.control.ping(destination=[worker.name], timeout=1.0):
            return
        if time.monotonic() > deadline:
            raise RuntimeError(f"the Celery worker did not answer a ping within {START_TIMEOUT_S} s")


def _settle(app: Any, worker: Worker) -> float | None:
    """Let the worker finish what the block enqueued and the benchmark did not wait for (the
    e-mails of the notifications, a coalesced rescore a couple of seconds out), untimed, so that
    nothing is left queued. Seconds it took; None if it was still busy after SETTLE_TIMEOUT_S."""
    started = time.monotonic()
    queue = app.conf.task_default_queue
    while time.monotonic() - started < SETTLE_TIMEOUT_S:
        with app.connection_for_write() as connection:
            try:
                waiting = connection.default_channel.queue_declare(queue=queue, passive=True).message_count
            except ChannelError:  # Redis keeps no empty queue
                waiting = 0
        if not waiting:
            inspect = app.control.inspect(destination=[worker.name], timeout=1.0)
            busy = [*(inspect.active() or {}).values(), *(inspect.scheduled() or {}).values()]
            if not any(busy):
                return round(time.monotonic() - started, 1)
        time.sleep(0.5)
    print(f"bench worker: still busy after {SETTLE_TIMEOUT_S} s; stopping it", file=sys.stderr)
    return None


def _stop(worker: Worker) -> None:
    """Warm shutdown (running tasks finish), killed if it takes longer than STOP_TIMEOUT_S."""
    process = worker.process
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def catch_up_handoffs() -> dict[str, int]:
    """Work off the hand-off requests already due, in this process, as the beat's every-minute
    drain would have (a scoring run of the harness — the first scoring, `rescore_all` — promotes
    leads and leaves their requests to a worker that never ran). Done before a benchmark's set-up,
    untimed, so that the benchmark's own rules, placed first, take only its own leads. Tasks it
    enqueues (the e-mails) go to the in-process broker and are dropped."""
    from handoff import automation

    with broker("memory://localhost/") as app, eager(False):
        done = automation.handoff_requests_drain()
        app.control.purge()
    return {"handed_off": done.handed_off, "waiting": done.waiting, "failed": done.failed, "dropped": done.dropped}
