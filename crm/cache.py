"""Django's Redis cache, made to degrade instead of failing while Redis is unreachable.

Baton's cache holds nothing that is not also somewhere else: sessions are `cached_db` (the
database has every session), throttle counts and short-lived figures (the queue's review median)
are recomputed. So while Redis is down a cache read is a miss and a write is skipped, and signed-in
pages keep working from the database; Django's own RedisCache would raise instead, and every page
would answer 500. Outages are logged once a minute, not once per call.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from functools import wraps
from typing import Any

from django.core.cache.backends.redis import RedisCache, RedisCacheClient
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

logger = logging.getLogger(__name__)
UNREACHABLE = (RedisConnectionError, RedisTimeoutError, OSError)
LOG_EVERY_SECONDS = 60
_last_logged = 0.0


def _degrades_to(fallback: Callable[..., Any]) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    def decorate(method: Callable[..., Any]) -> Callable[..., Any]:
        @wraps(method)
        def guarded(self: Any, *args: Any, **kwargs: Any) -> Any:
            global _last_logged
            try:
                return method(self, *args, **kwargs)
            except UNREACHABLE as exc:
                now = time.monotonic()
                if now - _last_logged > LOG_EVERY_SECONDS:
                    _last_logged = now
                    logger.warning("Redis cache unreachable, reads miss and writes are skipped: %s", exc)
                return fallback(*args, **kwargs)

        return guarded

    return decorate


def _missing_counter(key: Any, delta: int) -> None:
    raise ValueError(f"Key {key!r} not found (the cache is unreachable)")


class ResilientRedisCacheClient(RedisCacheClient):
    add = _degrades_to(lambda *a, **k: False)(RedisCacheClient.add)
    get = _degrades_to(lambda key, default: default)(RedisCacheClient.get)
    set = _degrades_to(lambda *a, **k: None)(RedisCacheClient.set)
    touch = _degrades_to(lambda *a, **k: False)(RedisCacheClient.touch)
    delete = _degrades_to(lambda *a, **k: False)(RedisCacheClient.delete)
    get_many = _degrades_to(lambda *a, **k: {})(RedisCacheClient.get_many)
    has_key = _degrades_to(lambda *a, **k: False)(RedisCacheClient.has_key)
    incr = _degrades_to(_missing_counter)(RedisCacheClient.incr)
    set_many = _degrades_to(lambda *a, **k: None)(RedisCacheClient.set_many)
    delete_many = _degrades_to(lambda *a, **k: None)(RedisCacheClient.delete_many)
    clear = _degrades_to(lambda *a, **k: False)(RedisCacheClient.clear)


class ResilientRedisCache(RedisCache):
    """`django.core.cache.backends.redis.RedisCache` whose calls miss while Redis is down."""

    def __init__(self, server: str, params: dict[str, Any]) -> None:
        super().__init__(server, params)
        self._class = ResilientRedisCacheClient

    def ping(self) -> bool:
        """Whether Redis answers now (for /healthz): never raises."""
        try:
            return bool(self._cache.get_client(write=True).ping())
        except UNREACHABLE:
            return False
