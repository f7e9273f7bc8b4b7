"""Shared pieces of the notify tests: topics, areas, subscribers, and a recording channel."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from django.utils import timezone

from machi.core.models import Area, Municipality
from machi.notify import services
from machi.notify.channels.base import Message, Outcome, Result
from machi.notify.models import Channel, Subscriber, SubscriberStatus, Topic


@dataclass
class Recorder:
    """A channel that keeps what it was asked to send and answers what ``decide`` says."""

    name: str
    decide: Callable[[Message], Outcome] = lambda m: "delivered"
    sent: list[Message] = field(default_factory=list)
    opened: int = 0

    async def open(self) -> None:
        self.opened += 1

    async def send(self, messages: list[Message]) -> list[Result]:
        self.sent.extend(messages)
        return [Result(m.delivery_id, self.decide(m), "recorded") for m in messages]

    async def close(self) -> None:
        return None


@pytest.fixture
def topics(db: Any) -> dict[str, Topic]:
    made = {}
    for n, (slug, emergency) in enumerate((("news", False), ("disaster", True), ("gomi", False))):
        made[slug] = Topic.objects.create(slug=slug, name=slug, emergency=emergency, position=n)
    return made


@pytest.fixture
def town(db: Any) -> list[Area]:
    city = Municipality.objects.get_or_create(
        lgcode="112241", defaults={"name": "戸田市", "prefecture": "埼玉県"}
    )[0]
    return [Area.objects.create(municipality=city, name=name) for name in ("上戸田", "下戸田")]


@pytest.fixture
def subscribe(db: Any) -> Callable[..., Subscriber]:
    counter = iter(range(1, 1_000_000))

    def make(
        *,
        topics: list[Topic] = (),  # type: ignore[assignment]
        areas: list[Area] = (),  # type: ignore[assignment]
        channel: str = Channel.EMAIL,
        language: str = "ja",
        emergency_only: bool = False,
        status: str = SubscriberStatus.ACTIVE,
        address: str | None = None,
    ) -> Subscriber:
        n = next(counter)
        address = (
            address
            or {
                Channel.EMAIL: f"resident{n}@example.jp",
                Channel.WEBPUSH: f"https://push.example.jp/send/{n}",
                Channel.LINE: "U" + f"{n:032x}",
            }[channel]
        )
        subscriber = Subscriber.objects.create(
            channel=channel,
            address=address,
            address_key=services.address_key(channel, address),
            push_keys={"p256dh": "x", "auth": "y"} if channel == Channel.WEBPUSH else {},
            language=language,
            emergency_only=emergency_only,
            status=status,
            confirmed_at=timezone.now(),
        )
        subscriber.topics.set(topics)
        subscriber.areas.set(areas)
        return subscriber

    return make
