"""Given mail accepted by the relay, when a bounce or a complaint comes back later, then the
address gets no more mail; a delay or a forged bounce changes nothing."""

from __future__ import annotations

import asyncio
import io
from collections.abc import Callable
from typing import Any

import pytest
from django.core.management import call_command

from machi.notify import bounces, delivery, services
from machi.notify.channels.email import EmailChannel
from machi.notify.models import (
    Broadcast,
    BroadcastStatus,
    Delivery,
    DeliveryStatus,
    Subscriber,
    SubscriberStatus,
    Topic,
)
from machi.notify.peers.smtp_sink import SmtpSink

from .conftest import Recorder

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _bounce_address(settings: Any) -> None:
    settings.MACHI_NOTIFY_BOUNCE_ADDRESS = "bounce@city.toda.example.jp"


def delivered(topics: dict[str, Topic], subscribe: Callable[..., Subscriber]) -> Delivery:
    subscriber = subscribe(topics=[topics["news"]])
    broadcast = services.broadcast_create(
        text=services.Text(subject="s", body="b"), topics=[topics["news"]], emergency=True
    )
    Broadcast.objects.filter(pk=broadcast.pk).update(status=BroadcastStatus.SENDING)
    delivery.run(broadcast.pk, channels={"email": Recorder("email")})  # type: ignore[dict-item]
    return Delivery.objects.get(subscriber=subscriber)


def dsn(to: str, *, action: str = "failed", status: str = "5.1.1") -> bytes:
    return (
        f"From: MAILER-DAEMON@relay.example.jp\r\nTo: {to}\r\nSubject: Undelivered Mail\r\n"
        "MIME-Version: 1.0\r\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="b"\r\n\r\n'
        "--b\r\nContent-Type: text/plain\r\n\r\nThe mail could not be delivered.\r\n"
        "--b\r\nContent-Type: message/delivery-status\r\n\r\n"
        "Reporting-MTA: dns; relay.example.jp\r\n\r\n"
        "Final-Recipient: rfc822; resident1@example.jp\r\n"
        f"Action: {action}\r\nStatus: {status}\r\n"
        "Diagnostic-Code: smtp; 550 5.1.1 user unknown\r\n\r\n"
        "--b--\r\n"
    ).encode()


def arf(to: str) -> bytes:
    return (
        f"From: abuse@mailbox.example.jp\r\nTo: {to}\r\nSubject: complaint\r\n"
        "MIME-Version: 1.0\r\n"
        'Content-Type: multipart/report; report-type=feedback-report; boundary="f"\r\n\r\n'
        "--f\r\nContent-Type: text/plain\r\n\r\nA user marked this as spam.\r\n"
        "--f\r\nContent-Type: message/feedback-report\r\n\r\n"
        "Feedback-Type: abuse\r\nUser-Agent: example/1.0\r\nVersion: 1\r\n\r\n"
        "--f--\r\n"
    ).encode()


def test_each_message_goes_out_with_its_own_signed_return_path(
    topics: dict[str, Topic], subscribe: Callable[..., Subscriber]
) -> None:
    subscriber = subscribe(topics=[topics["news"]])
    from machi.notify.channels.base import Message

    message = Message(
        delivery_id=4242,
        key="k-4242",
        address=subscriber.address,
        language="ja",
        subject="件名",
        body="本文",
        short="本文",
        url="https://machi.example.jp/notify/messages/x/",
        manage_url="https://machi.example.jp/notify/manage/t/",
        unsubscribe_url="https://machi.example.jp/notify/unsubscribe/t/",
    )
    with SmtpSink() as sink:
        channel = EmailChannel(host="127.0.0.1", port=sink.port, connections=1)

        async def send() -> Any:
            await channel.open()
            try:
                return await channel.send([message])
            finally:
                await channel.close()

        results = asyncio.run(send())
    assert results[0].outcome == "delivered"
    sender = sink.received[0].mail_from
    assert sender.startswith("bounce+4242-")
    assert sender.endswith("@city.toda.example.jp")
    assert bounces.delivery_of(sender) == 4242
    assert bounces.delivery_of(sender.replace("bounce+4242-", "bounce+4243-")) is None


def test_a_later_bounce_stops_the_address_and_corrects_the_counts(
    topics: dict[str, Topic],
    subscribe: Callable[..., Subscriber],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    row = delivered(topics, subscribe)
    out = io.StringIO()
    path = bounces.envelope_sender(row.pk)
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(dsn(path))))  # the MTA's pipe

    call_command("notify_bounce", "--envelope-to", path, stdout=out)
    report = bounces.process(dsn(path))  # the same bounce twice changes nothing more

    assert out.getvalue().split("\t")[:2] == ["stdin", "bounce"]
    row.refresh_from_db()
    assert row.status == DeliveryStatus.PERMANENT_FAILURE
    assert "5.1.1" in row.error
    assert row.subscriber is not None
    assert row.subscriber.status == SubscriberStatus.BOUNCED
    broadcast = row.broadcast
    broadcast.refresh_from_db()
    assert (broadcast.delivered, broadcast.failed) == (0, 1)
    assert report.kind == "bounce"


def test_a_complaint_unsubscribes(
    topics: dict[str, Topic], subscribe: Callable[..., Subscriber]
) -> None:
    row = delivered(topics, subscribe)
    report = bounces.process(arf(bounces.envelope_sender(row.pk)))
    assert report.kind == "complaint"
    assert row.subscriber is not None
    row.subscriber.refresh_from_db()
    assert row.subscriber.status == SubscriberStatus.UNSUBSCRIBED
    row.refresh_from_db()
    assert row.status == DeliveryStatus.DELIVERED  # it was delivered: the resident saw it


@pytest.mark.parametrize(
    ("make", "kind"),
    [
        (lambda to: dsn(to, action="delayed", status="4.4.1"), "delay"),
        (lambda to: dsn(to.replace("bounce+", "bounce+9")), "ignored"),  # forged delivery id
        (lambda to: dsn("postmaster@city.toda.example.jp"), "ignored"),
        (lambda to: b"not a mail at all", "ignored"),
    ],
)
def test_delays_and_forgeries_change_nothing(
    topics: dict[str, Topic],
    subscribe: Callable[..., Subscriber],
    make: Callable[[str], bytes],
    kind: str,
) -> None:
    row = delivered(topics, subscribe)
    report = bounces.process(make(bounces.envelope_sender(row.pk)))
    assert report.kind == kind
    row.refresh_from_db()
    assert row.status == DeliveryStatus.DELIVERED
    assert Subscriber.objects.get().status == SubscriberStatus.ACTIVE


def test_without_a_bounce_address_the_from_address_is_the_return_path(settings: Any) -> None:
    settings.MACHI_NOTIFY_BOUNCE_ADDRESS = ""
    assert bounces.envelope_sender(1) == ""
