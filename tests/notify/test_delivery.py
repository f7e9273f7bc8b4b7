"""The delivery engine: who gets a broadcast, exactly once, and what happens when things fail."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest
from django.utils import timezone

from machi.core.models import Area
from machi.notify import delivery, services
from machi.notify.models import (
    Broadcast,
    BroadcastStatus,
    Channel,
    Delivery,
    DeliveryStatus,
    Subscriber,
    SubscriberStatus,
    Topic,
)

from .conftest import Recorder

pytestmark = pytest.mark.django_db


def sending(**kwargs: Any) -> Broadcast:
    """A broadcast released for sending, without running the worker's task."""
    defaults: dict[str, Any] = {
        "text": services.Text(
            subject="件名", body="本文です", subject_en="Subject", body_en="Body"
        ),
        "emergency": True,
    }
    broadcast = services.broadcast_create(**{**defaults, **kwargs})
    Broadcast.objects.filter(pk=broadcast.pk).update(
        status=BroadcastStatus.SENDING, started_at=timezone.now()
    )
    broadcast.refresh_from_db()
    return broadcast


def recorders(**decide: Callable[..., str]) -> dict[str, Recorder]:
    return {
        name: Recorder(name, **({"decide": decide[name]} if name in decide else {}))
        for name in Channel.values
    }  # type: ignore[arg-type]


# --- Who gets it ----------------------------------------------------------------------------------


def test_fan_out_follows_topics_areas_and_the_emergency_tier(
    topics: dict[str, Topic], town: list[Area], subscribe: Callable[..., Subscriber]
) -> None:
    upper, lower = town
    news_upper = subscribe(topics=[topics["news"]], areas=[upper])
    news_lower = subscribe(topics=[topics["news"]], areas=[lower])
    news_citywide = subscribe(topics=[topics["news"]])
    gomi_upper = subscribe(topics=[topics["gomi"]], areas=[upper])
    emergency_only = subscribe(emergency_only=True, areas=[upper])
    subscribe(topics=[topics["news"]], status=SubscriberStatus.PENDING)  # not confirmed
    subscribe(topics=[topics["news"]], status=SubscriberStatus.BOUNCED)

    def reached(**kwargs: Any) -> set[Subscriber]:
        broadcast = sending(**kwargs)
        services.fan_out(broadcast=broadcast)
        return {d.subscriber for d in Delivery.objects.filter(broadcast=broadcast)}

    assert reached(topics=[topics["news"]], areas=[upper], emergency=False) == {
        news_upper,
        news_citywide,
    }
    assert reached(topics=[topics["news"]], emergency=False) == {
        news_upper,
        news_lower,
        news_citywide,
    }
    # Emergency messages also reach the "emergency only" tier; "everyone" ignores topics.
    assert reached(topics=[topics["disaster"]], areas=[upper]) == {emergency_only}
    assert reached(everyone=True, areas=[upper]) == {
        news_upper,
        news_citywide,
        gomi_upper,
        emergency_only,
    }


def test_fan_out_is_idempotent_and_per_channel(
    topics: dict[str, Topic], subscribe: Callable[..., Subscriber]
) -> None:
    for channel in (Channel.EMAIL, Channel.WEBPUSH, Channel.LINE):
        subscribe(topics=[topics["news"]], channel=channel)
    broadcast = sending(topics=[topics["news"]], channels=["email", "line"])
    assert services.fan_out(broadcast=broadcast) == 2
    assert services.fan_out(broadcast=broadcast) == 2  # a worker that died mid-fan-out reruns
    assert set(Delivery.objects.values_list("channel", flat=True)) == {"email", "line"}


# --- Exactly once ---------------------------------------------------------------------------------


def test_every_subscriber_gets_one_message_in_their_language(
    topics: dict[str, Topic], subscribe: Callable[..., Subscriber], settings: Any
) -> None:
    settings.MACHI_NOTIFY_BATCH = 7  # several batches
    for n in range(30):
        subscribe(topics=[topics["news"]], language="en" if n % 3 == 0 else "ja")
    broadcast = sending(topics=[topics["news"]])
    channels = recorders()

    report = delivery.run(broadcast.pk, channels=channels)  # type: ignore[arg-type]

    sent = channels["email"].sent
    assert report.finished
    assert report.delivered == 30
    assert report.batches == 5
    assert len({m.address for m in sent}) == 30 == len(sent)
    assert {m.subject for m in sent if m.language == "en"} == {"Subject"}
    assert {m.subject for m in sent if m.language == "ja"} == {"件名"}
    assert all(m.key.startswith(broadcast.pk.hex) for m in sent)
    assert all("/notify/unsubscribe/" in m.unsubscribe_url for m in sent)
    broadcast.refresh_from_db()
    assert (broadcast.status, broadcast.total, broadcast.delivered) == ("sent", 30, 30)
    assert broadcast.progress == 100
    # Running again sends nothing more.
    again = recorders()
    Broadcast.objects.filter(pk=broadcast.pk).update(status=BroadcastStatus.SENDING)
    delivery.run(broadcast.pk, channels=again)  # type: ignore[arg-type]
    assert again["email"].sent == []


def test_a_batch_lost_with_its_worker_is_resent_once_with_the_same_keys(
    topics: dict[str, Topic], subscribe: Callable[..., Subscriber], settings: Any
) -> None:
    for _ in range(10):
        subscribe(topics=[topics["news"]])
    broadcast = sending(topics=[topics["news"]])
    services.fan_out(broadcast=broadcast)
    # A worker claims four deliveries and dies before recording anything.
    lost = delivery.claim(broadcast, limit=4)
    assert Delivery.objects.filter(status=DeliveryStatus.SENDING).count() == 4

    # While its claim holds, another worker leaves those four alone.
    first = recorders()
    delivery.run(broadcast.pk, channels=first)  # type: ignore[arg-type]
    assert len(first["email"].sent) == 6
    assert {m.delivery_id for m in first["email"].sent}.isdisjoint(c.delivery_id for c in lost)

    # Once the claim lapses, they are sent, once, with the keys the dead worker used.
    Delivery.objects.filter(status=DeliveryStatus.SENDING).update(
        due_at=timezone.now() - dt.timedelta(seconds=1)
    )
    second = recorders()
    report = delivery.run(broadcast.pk, channels=second)  # type: ignore[arg-type]
    assert sorted(m.delivery_id for m in second["email"].sent) == [c.delivery_id for c in lost]
    assert {m.key for m in second["email"].sent} == {
        f"{broadcast.pk.hex}-{c.delivery_id}" for c in lost
    }
    assert report.finished
    assert Delivery.objects.filter(status=DeliveryStatus.DELIVERED).count() == 10


# --- Failures -------------------------------------------------------------------------------------


def test_temporary_failures_are_retried_with_backoff_until_they_give_up(
    topics: dict[str, Topic], subscribe: Callable[..., Subscriber], settings: Any
) -> None:
    settings.MACHI_NOTIFY_MAX_ATTEMPTS = 2
    subscriber = subscribe(topics=[topics["news"]])
    broadcast = sending(topics=[topics["news"]])

    report = delivery.run(broadcast.pk, channels=recorders(email=lambda m: "temporary"))  # type: ignore[arg-type]
    row = Delivery.objects.get(subscriber=subscriber)
    assert not report.finished
    assert row.status == DeliveryStatus.TEMPORARY_FAILURE
    assert row.attempts == 1
    assert row.due_at is not None
    assert row.due_at > timezone.now() + dt.timedelta(seconds=20)

    # Not due yet: nothing is sent.
    early = recorders()
    delivery.run(broadcast.pk, channels=early)  # type: ignore[arg-type]
    assert early["email"].sent == []

    Delivery.objects.update(due_at=timezone.now())
    delivery.run(broadcast.pk, channels=recorders(email=lambda m: "temporary"))  # type: ignore[arg-type]
    row.refresh_from_db()
    assert row.status == DeliveryStatus.PERMANENT_FAILURE
    assert row.error.startswith("gave up after 2 attempts")
    broadcast.refresh_from_db()
    assert (broadcast.status, broadcast.failed) == (BroadcastStatus.SENT, 1)
    # A temporary failure is not the address's fault: the subscriber stays.
    subscriber.refresh_from_db()
    assert subscriber.status == SubscriberStatus.ACTIVE


def test_bounces_stop_the_address_and_gone_push_subscriptions_are_deleted(
    topics: dict[str, Topic], subscribe: Callable[..., Subscriber]
) -> None:
    bouncing = subscribe(topics=[topics["news"]])
    gone = subscribe(topics=[topics["news"]], channel=Channel.WEBPUSH)
    fine = subscribe(topics=[topics["news"]], channel=Channel.LINE)
    broadcast = sending(topics=[topics["news"]])
    channels = recorders(email=lambda m: "permanent", webpush=lambda m: "gone")

    delivery.run(broadcast.pk, channels=channels)  # type: ignore[arg-type]

    bouncing.refresh_from_db()
    assert bouncing.status == SubscriberStatus.BOUNCED
    assert not Subscriber.objects.filter(pk=gone.pk).exists()
    assert Delivery.objects.filter(subscriber=None, status="permanent-failure").count() == 1
    broadcast.refresh_from_db()
    assert (broadcast.delivered, broadcast.failed) == (1, 2)
    # The next broadcast reaches only the address that works.
    following = sending(topics=[topics["news"]])
    assert services.fan_out(broadcast=following) == 1
    assert Delivery.objects.get(broadcast=following).subscriber == fine


def test_a_channel_that_cannot_open_keeps_its_messages_for_later(
    topics: dict[str, Topic], subscribe: Callable[..., Subscriber]
) -> None:
    subscribe(topics=[topics["news"]], channel=Channel.LINE)
    subscribe(topics=[topics["news"]])
    broadcast = sending(topics=[topics["news"]])
    channels = recorders()

    async def refuse() -> None:
        raise RuntimeError("LINE is not configured")

    channels["line"].open = refuse  # type: ignore[method-assign]
    delivery.run(broadcast.pk, channels=channels)  # type: ignore[arg-type]

    statuses = dict(Delivery.objects.values_list("channel", "status"))
    assert statuses == {"email": "delivered", "line": "temporary-failure"}
    assert "LINE is not configured" in Delivery.objects.get(channel="line").error


def test_unsubscribed_between_fan_out_and_sending_is_not_sent(
    topics: dict[str, Topic], subscribe: Callable[..., Subscriber]
) -> None:
    leaving = subscribe(topics=[topics["news"]])
    subscribe(topics=[topics["news"]])
    broadcast = sending(topics=[topics["news"]])
    services.fan_out(broadcast=broadcast)
    services.unsubscribe(subscriber=leaving)
    channels = recorders()

    report = delivery.run(broadcast.pk, channels=channels)  # type: ignore[arg-type]

    assert len(channels["email"].sent) == 1
    assert report.dropped == 1
    broadcast.refresh_from_db()
    assert (broadcast.total, broadcast.delivered, broadcast.status) == (1, 1, "sent")


def test_cancel_stops_sending(
    topics: dict[str, Topic],
    subscribe: Callable[..., Subscriber],
    settings: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    settings.MACHI_NOTIFY_BATCH = 2
    for _ in range(6):
        subscribe(topics=[topics["news"]])
    broadcast = sending(topics=[topics["news"]])
    record = delivery.record

    def record_then_cancel(*args: Any) -> None:  # staff press 中止 during the first batch
        record(*args)
        services.broadcast_cancel(broadcast=broadcast, by=None)

    monkeypatch.setattr(delivery, "record", record_then_cancel)
    channels = recorders()
    delivery.run(broadcast.pk, channels=channels)  # type: ignore[arg-type]
    assert len(channels["email"].sent) == 2
    broadcast.refresh_from_db()
    assert broadcast.status == BroadcastStatus.CANCELLED


def test_a_test_broadcast_sends_nothing_and_fakes_receipts(
    topics: dict[str, Topic], subscribe: Callable[..., Subscriber]
) -> None:
    for channel in Channel.values:
        subscribe(topics=[topics["news"]], channel=channel)
    broadcast = sending(topics=[topics["news"]], test=True)

    report = delivery.run(broadcast.pk)  # the real channel classes are never made

    assert report.finished
    assert report.delivered == 3
    assert set(Delivery.objects.values_list("provider_ref", flat=True)) == {"test"}


def test_line_deliveries_share_a_batch_per_multicast_and_keep_it(
    topics: dict[str, Topic], subscribe: Callable[..., Subscriber], settings: Any
) -> None:
    for n in range(5):
        subscribe(topics=[topics["news"]], channel=Channel.LINE, language="en" if n < 2 else "ja")
    broadcast = sending(topics=[topics["news"]])
    channels = recorders(line=lambda m: "temporary")

    delivery.run(broadcast.pk, channels=channels)  # type: ignore[arg-type]
    first = {m.delivery_id: m.batch for m in channels["line"].sent}
    assert len(set(first.values())) == 2  # one multicast per language
    Delivery.objects.update(due_at=timezone.now())
    again = recorders()
    delivery.run(broadcast.pk, channels=again)  # type: ignore[arg-type]
    assert {m.delivery_id: m.batch for m in again["line"].sent} == first  # same retry keys


# --- Approval and scheduling ----------------------------------------------------------------------


def test_non_emergency_broadcasts_wait_for_a_second_person(
    topics: dict[str, Topic],
    settings: Any,
    make_staff: Any,
    django_capture_on_commit_callbacks: Any,
) -> None:
    from machi.core.roles import Role

    settings.MACHI_NOTIFY_REQUIRE_APPROVAL = True
    writer, approver = make_staff(Role.PR, username="w"), make_staff(Role.PR, username="a")
    broadcast = services.broadcast_create(
        text=services.Text(subject="s", body="b"), topics=[topics["news"]], created_by=writer
    )
    broadcast = services.broadcast_submit(broadcast=broadcast, by=writer)
    assert broadcast.status == BroadcastStatus.AWAITING_APPROVAL
    with pytest.raises(services.NotifyError) as refused:
        services.broadcast_approve(broadcast=broadcast, by=writer)
    assert refused.value.field == "approved_by"
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        broadcast = services.broadcast_approve(broadcast=broadcast, by=approver)
    assert broadcast.status == BroadcastStatus.SENDING
    assert callbacks
    assert broadcast.approved_by == approver


def test_a_scheduled_broadcast_starts_when_due(topics: dict[str, Topic]) -> None:
    later = timezone.now() + dt.timedelta(hours=1)
    broadcast = services.broadcast_create(
        text=services.Text(subject="s", body="b"),
        topics=[topics["news"]],
        emergency=True,
        scheduled_at=later,
    )
    broadcast = services.broadcast_submit(broadcast=broadcast, by=None)
    assert broadcast.status == BroadcastStatus.SCHEDULED
    assert services.broadcast_start_due() == []
    assert [b.pk for b in services.broadcast_start_due(now=later)] == [broadcast.pk]
    broadcast.refresh_from_db()
    assert broadcast.status == BroadcastStatus.SENDING


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"text": services.Text(subject="", body="b")}, "subject"),
        ({"text": services.Text(subject="s", body=" ")}, "body"),
        ({"text": services.Text(subject="s", body="b"), "channels": ["fax"]}, "channels"),
        ({"text": services.Text(subject="s", body="b"), "channels": []}, "channels"),
        ({"text": services.Text(subject="s", body="b"), "emergency": False}, "topics"),
    ],
)
def test_bad_broadcasts_name_the_field(kwargs: dict[str, Any], field: str) -> None:
    with pytest.raises(services.NotifyError) as caught:
        services.broadcast_create(**kwargs)
    assert caught.value.field == field
    assert not Broadcast.objects.exists()


def test_placeholders_must_all_be_filled() -> None:
    text = "((地域))に((避難情報))を発令"
    assert services.placeholders(text, "((地域))") == ["地域", "避難情報"]
    assert (
        services.render(text, {"地域": "上戸田", "避難情報": "避難指示"})
        == "上戸田に避難指示を発令"
    )
    with pytest.raises(services.NotifyError) as caught:
        services.render(text, {"地域": "上戸田"})
    assert caught.value.field == "values.避難情報"
    assert services.render("((補足))", {"補足": ""}, strict=False) == ""


def test_each_delivery_keeps_the_peers_receipt(
    topics: dict[str, Topic], subscribe: Callable[..., Subscriber]
) -> None:
    from machi.notify.channels.base import Result

    for _ in range(3):
        subscribe(topics=[topics["news"]])
    broadcast = sending(topics=[topics["news"]])

    class Receipts(Recorder):
        async def send(self, messages: list[Any]) -> list[Result]:
            return [
                Result(m.delivery_id, "delivered", "250", f"queued as {m.delivery_id}")
                for m in messages
            ]

    delivery.run(broadcast.pk, channels={"email": Receipts("email")})  # type: ignore[dict-item]
    rows = Delivery.objects.filter(broadcast=broadcast)
    assert {r.provider_ref for r in rows} == {f"queued as {r.pk}" for r in rows}
