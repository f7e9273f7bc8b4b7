"""What every channel implements: send a batch of messages, say what became of each.

The delivery engine (``machi.notify.delivery``) claims deliveries, turns each into a
:class:`Message` and hands a batch to the channel's ``send``, in the worker's asyncio loop. The
channel sends them as fast as its peer and its :class:`TokenBucket` allow (it decides its own
concurrency: parallel SMTP connections, concurrent HTTP requests, LINE multicasts of 500) and
answers one :class:`Result` per message, in any order. A channel never raises for one bad
message: it answers ``temporary`` (try again later), ``permanent`` (never again to this
address), ``gone`` (the subscription no longer exists: delete it) or ``failed`` (this message
cannot go, but the address is fine). It raises only when it cannot work at all (no
configuration); the engine then marks the batch temporary.

Idempotency: ``Message.key`` is stable across retries of the same delivery. Channels pass it
on where the protocol has a place for it (e-mail ``Message-ID``, Web Push ``Topic``, LINE
``X-Line-Retry-Key`` per multicast, for which ``Message.batch`` groups the messages of one
request), so a message resent after a worker died mid-send is the same message downstream.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Literal, Protocol

# delivered: the peer accepted it. temporary: try again later. permanent: this address will
# never accept it (a bounce: the subscriber is stopped). gone: the subscription no longer
# exists (deleted). failed: this message cannot be sent, through no fault of the address.
Outcome = Literal["delivered", "temporary", "permanent", "gone", "failed"]


@dataclass(frozen=True)
class Message:
    delivery_id: int
    key: str  # stable idempotency key, e.g. "b3f1…-1234"
    address: str  # e-mail address, Web Push endpoint URL, or LINE user id
    language: str  # "ja" or "en"
    subject: str
    body: str  # the whole text (e-mail)
    short: str  # the text for a notification or a chat message (push, LINE)
    url: str  # absolute link to the message on the city's site
    manage_url: str  # absolute link where the subscriber changes or ends the subscription
    unsubscribe_url: str  # absolute one-click unsubscribe (RFC 8058 POST target)
    emergency: bool = False
    push_keys: dict[str, str] = field(default_factory=dict)  # Web Push: p256dh, auth
    batch: str = ""  # LINE: messages of one multicast share it (its X-Line-Retry-Key)
    ttl: int = 86_400  # seconds a push service may hold the message


@dataclass(frozen=True)
class Result:
    delivery_id: int
    outcome: Outcome
    detail: str = ""  # the peer's answer, short (shown to staff)
    provider_ref: str = ""  # the peer's id for the message, if it gives one


class Channel(Protocol):
    name: str

    async def open(self) -> None: ...

    async def send(self, messages: list[Message]) -> list[Result]: ...

    async def close(self) -> None: ...


class TokenBucket:
    """At most ``rate`` sends per second on average, bursts up to ``burst``. ``rate`` 0: no limit.

    One per channel and worker process (a city with N workers divides its provider's limit by N).
    """

    def __init__(self, rate: float, burst: float | None = None) -> None:
        self.rate = rate
        self.capacity = burst if burst is not None else max(1.0, rate)
        self.tokens = self.capacity
        self.stamp = time.monotonic()
        self._lock = asyncio.Lock()

    async def take(self, n: float = 1.0) -> None:
        if self.rate <= 0:
            return
        async with self._lock:
            while True:
                now = time.monotonic()
                self.tokens = min(self.capacity, self.tokens + (now - self.stamp) * self.rate)
                self.stamp = now
                if self.tokens >= n:
                    self.tokens -= n
                    return
                await asyncio.sleep((n - self.tokens) / self.rate)
