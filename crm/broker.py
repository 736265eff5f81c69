"""Kombu's Redis transport, made to survive a Redis restart.

When Redis goes away while a worker holds unacknowledged messages (late acknowledgement: the
tasks were running), the consumer closes its connection to reconnect. Two things then use the
closed channel: closing it asks its QoS to put those messages back on the queue
(`restore_unacked`), and a task that finishes after the reconnect acknowledges its message on
the channel that delivered it. Both need a Redis client, but the closed channel's connection has
released its parameters, and kombu 5.7 fails building the client with `AttributeError:
'NoneType' object has no attribute 'hostname'` (or `… 'client'`). The consumer does not expect
that error, so the whole worker stops ("Unrecoverable error") and nothing restarts it.
`tests/test_faults.py` restarts a real Redis under load and shows both.

Here the closed channel answers with a connection error instead, which the worker handles (it
logs that it could not acknowledge), and its QoS leaves the unacknowledged messages where they are:
Redis still lists them as unacknowledged (if it kept its data), and the transport's visibility
timeout brings them back (`CELERY_BROKER_TRANSPORT_OPTIONS["visibility_timeout"]`); if Redis lost
its data, the database is what remembers the work (hand-off and rescore requests, jobs, clocks),
and the beat sweeps pick it up. Either way the worker reconnects and goes on.

Used through `CELERY_BROKER_TRANSPORT = "crm.broker:Transport"` when REDIS_URL is set.
"""

from __future__ import annotations

import logging
from typing import Any

from kombu.transport import redis as kombu_redis
from redis.exceptions import ConnectionError as RedisConnectionError

logger = logging.getLogger(__name__)


class QoS(kombu_redis.QoS):
    def restore_unacked(self, client: Any = None) -> None:
        connection = getattr(self.channel, "connection", None)
        if client is None and getattr(connection, "client", None) is None:
            if self._delivered:
                logger.warning(
                    "Broker connection lost with %d unacknowledged message(s): left for the visibility "
                    "timeout to restore (the database keeps the work itself).",
                    len(self._delivered),
                )
            self._delivered.clear()
            return
        super().restore_unacked(client)


class Channel(kombu_redis.Channel):
    QoS = QoS

    def _connparams(self, asynchronous: bool = False) -> dict[str, Any]:
        """A channel whose connection was closed (lost, and replaced by a new one) cannot reach
        Redis: say so with the connection error the worker handles ("Couldn't ack …, reason:
        network:ConnectionError"), not the AttributeError kombu 5.7 raises, which stops the worker.
        That is how a late acknowledgement of a message the old channel delivered fails."""
        connection = self.connection
        if connection is None or getattr(connection, "client", None) is None:
            raise RedisConnectionError("This broker channel's connection is closed (it was lost and replaced).")
        return super()._connparams(asynchronous=asynchronous)


class Transport(kombu_redis.Transport):
    Channel = Channel
