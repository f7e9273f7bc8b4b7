"""Fixed-window counters in the cache (Redis in production): sign-in and API limits.

A fixed window costs one cache operation per request, whatever the limit, where a sliding
log (django-ninja's own throttles) reads and writes the whole history on every request.
"""

from __future__ import annotations

import time

from django.core.cache import caches


def _key(scope: str, ident: str, window: int) -> str:
    return f"rl:{scope}:{ident}:{int(time.time()) // window}"


def hit(scope: str, ident: str, *, limit: int, window: int, alias: str = "default") -> bool:
    """Count one event; False once ``limit`` events happened in the current window."""
    cache = caches[alias]
    key = _key(scope, ident, window)
    if cache.add(key, 1, timeout=window + 1):
        return True
    try:
        count = cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.set(key, 1, timeout=window + 1)
        count = 1
    return count <= limit


def exceeded(scope: str, ident: str, *, limit: int, window: int) -> bool:
    """True when ``limit`` events already happened in the current window (counts nothing)."""
    value = caches["default"].get(_key(scope, ident, window))
    return value is not None and int(value) >= limit


def reset(scope: str, ident: str, *, window: int) -> None:
    caches["default"].delete(_key(scope, ident, window))


def seconds_left(window: int) -> int:
    """Seconds until the current window ends (for Retry-After)."""
    return window - int(time.time()) % window
