"""Who is acting, from where: set once per request (or command, or task), read by the audit log."""

from __future__ import annotations

import contextvars
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class ActorContext:
    user: Any = None
    ip_address: str | None = None
    channel: str = ""
    request_id: str = ""


_current: contextvars.ContextVar[ActorContext] = contextvars.ContextVar(
    "machi_actor",
    default=ActorContext(channel="cli"),  # noqa: B039 - a frozen dataclass is immutable
)


def current() -> ActorContext:
    return _current.get()


@contextmanager
def acting(**values: Any) -> Iterator[ActorContext]:
    """Run a block as this actor: ``with acting(user=u, channel="task"): …``."""
    merged = ActorContext(**{**current().__dict__, **values})
    token = _current.set(merged)
    try:
        yield merged
    finally:
        _current.reset(token)


def set_user(user: Any) -> None:
    """Attach the authenticated user once authentication has happened (API auth, login)."""
    _current.set(ActorContext(**{**current().__dict__, "user": user}))
