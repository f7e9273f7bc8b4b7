"""A small per-process memory for facts read on every API request (token → user and roles,
the current disaster), kept for a few seconds.

The trade-off is explicit: a revoked token, a changed role or a declared disaster reaches other
web processes up to ``TTL`` seconds later (the process that made the change forgets at once).
Each hit saves a few database round trips on the hottest paths, such as check-ins at a shelter
reception.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")
TTL = 5.0
MAX_ENTRIES = 4096

_lock = threading.Lock()
_store: dict[str, tuple[float, Any]] = {}


def remember(key: str, load: Callable[[], T], *, ttl: float = TTL) -> T:
    now = time.monotonic()
    with _lock:
        found = _store.get(key)
    if found is not None and found[0] > now:
        return found[1]
    value = load()
    with _lock:
        if len(_store) >= MAX_ENTRIES:
            _store.clear()
        _store[key] = (now + ttl, value)
    return value


def forget(prefix: str = "") -> None:
    """Forget entries whose key starts with ``prefix`` (everything by default)."""
    with _lock:
        for key in [k for k in _store if k.startswith(prefix)]:
            del _store[key]
