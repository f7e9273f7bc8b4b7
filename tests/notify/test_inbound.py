"""空メール登録: given an empty mail to the registration address, the sender gets the
confirmation mail; automatic mail and floods get nothing."""

from __future__ import annotations

import io
from typing import Any

import pytest
from django.core.management import call_command
from django.test import Client

from machi.notify import inbound
from machi.notify.models import Subscriber, SubscriberStatus, Topic
from tests.wifi.smtp_fixture import SmtpSink, smtp_server  # noqa: F401 - the fixture

pytestmark = pytest.mark.django_db


@pytest.fixture
def smtp(smtp_server: SmtpSink, settings: Any, topics: dict[str, Topic]) -> SmtpSink:  # noqa: F811
    settings.MACHI_NOTIFY_SMTP_HOST = smtp_server.host
    settings.MACHI_NOTIFY_SMTP_PORT = smtp_server.port
    settings.MACHI_NOTIFY_REGISTER_ADDRESS = "touroku@city.toda.example.jp"
    return smtp_server


def mail(sender: str, *, subject: str = "", headers: str = "") -> bytes:
    return (
        f"From: {sender}\r\nTo: touroku@city.toda.example.jp\r\nSubject: {subject}\r\n{headers}\r\n"
    ).encode()


def test_an_empty_mail_gets_the_confirmation_mail(
    smtp: SmtpSink, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = io.StringIO()
    monkeypatch.setattr(
        "sys.stdin", io.TextIOWrapper(io.BytesIO(mail("Hanako <hanako@example.jp>")))
    )
    call_command("notify_register", stdout=out)

    assert out.getvalue().split("\t")[:2] == ["stdin", "registered"]
    subscriber = Subscriber.objects.get()
    assert (subscriber.address, subscriber.status, subscriber.source) == (
        "hanako@example.jp",
        SubscriberStatus.PENDING,
        "empty-mail",
    )
    assert [t.slug for t in subscriber.topics.all()] == ["disaster"]  # the emergency topics
    assert len(smtp.received) == 1
    assert smtp.received[0].rcpt_tos == ["hanako@example.jp"]
    assert "/notify/confirm/" in smtp.received[0].text


def test_english_on_request(smtp: SmtpSink) -> None:
    assert inbound.register_by_mail(mail("tom@example.jp", subject="English")).kind == "registered"
    assert Subscriber.objects.get().language == "en"
    assert "Open this link" in smtp.received[0].text


@pytest.mark.parametrize(
    "raw",
    [
        mail("someone@example.jp", headers="Auto-Submitted: auto-replied\r\n"),
        mail("list@example.jp", headers="Precedence: bulk\r\n"),
        mail("MAILER-DAEMON@relay.example.jp"),
        mail("touroku@city.toda.example.jp"),  # ourselves: a loop
        mail("not an address"),
        b"",
    ],
)
def test_automatic_mail_and_nonsense_get_no_answer(smtp: SmtpSink, raw: bytes) -> None:
    assert inbound.register_by_mail(raw).kind == "ignored"
    assert not Subscriber.objects.exists()
    assert smtp.received == []


def test_a_flood_from_one_address_is_refused(smtp: SmtpSink) -> None:
    kinds = [inbound.register_by_mail(mail("flood@example.jp")).kind for _ in range(5)]
    assert kinds == ["registered"] * inbound.REGISTER_PER_HOUR + ["refused"] * 2
    assert len(smtp.received) == inbound.REGISTER_PER_HOUR


def test_the_subscribe_page_offers_the_address_and_its_qr_code(
    smtp: SmtpSink, client: Client
) -> None:
    page = client.get("/notify/").content.decode()
    assert 'href="mailto:touroku@city.toda.example.jp"' in page
    code = client.get("/notify/qr.svg?target=mail")
    assert code.status_code == 200
    assert code["Content-Type"] == "image/svg+xml"
