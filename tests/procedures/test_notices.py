"""The applicant is told: a receipt when the application is submitted, a mail at each status
change with the city's message and the status link, through the notify SMTP server; never to
an address notify stopped; the city's template when it wrote one; tried again later when the
server cannot take the mail now."""

from __future__ import annotations

import email
import email.policy
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from huey.contrib.djhuey import HUEY

from machi.notify import services as notify_services
from machi.notify.models import Channel, Subscriber, SubscriberStatus, Template
from machi.notify.peers.smtp_sink import SmtpSink
from machi.procedures import catalogue, notices, services
from machi.procedures.models import Application, Procedure

pytestmark = pytest.mark.django_db

SITE = "https://city.example.jp"


@pytest.fixture
def sink(settings: Any, tmp_path: Path) -> Iterator[SmtpSink]:
    server = SmtpSink(directory=tmp_path / "mailsink").start()
    settings.MACHI_NOTIFY_SMTP_HOST = server.host
    settings.MACHI_NOTIFY_SMTP_PORT = server.port
    settings.MACHI_NOTIFY_EMAIL_FROM = "戸田市 <notify@city.example.jp>"
    settings.MACHI_PUBLIC_URL = SITE
    settings.EMAIL_HOST_USER = ""
    settings.EMAIL_HOST_PASSWORD = ""
    settings.EMAIL_USE_TLS = False
    HUEY.storage.flush_schedule()
    try:
        yield server
    finally:
        server.stop()
        HUEY.storage.flush_schedule()


@pytest.fixture
def inkan(db: Any) -> Procedure:
    return {p.slug: p for p in catalogue.catalogue_load()}["inkan"]


def submit(procedure: Procedure, *, email_address: str = "taro@example.jp") -> Application:
    return services.application_submit(
        procedure=procedure,
        applicant=services.Applicant(name="戸田 太郎", email=email_address),
        answers={"copies": 1, "purpose": "登記"},
        delivery="mail",
        channel="online",
    )


def parsed(sink: SmtpSink) -> list[EmailMessage]:
    messages = []
    for record in sink.received:
        message = email.message_from_bytes(record.data, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        messages.append(message)
    return messages


def text(message: EmailMessage) -> str:
    body = message.get_body(preferencelist=("plain",))
    assert body is not None
    return str(body.get_content())


def stop(address: str, status: str) -> None:
    Subscriber.objects.create(
        channel=Channel.EMAIL,
        address=address,
        address_key=notify_services.address_key(Channel.EMAIL, address),
        status=status,
    )


def test_the_applicant_gets_a_receipt_then_a_mail_at_each_status_change(
    sink: SmtpSink, inkan: Procedure, django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        application = submit(inkan)
    [receipt] = parsed(sink)
    assert sink.received[0].rcpt_tos == ["taro@example.jp"]
    assert application.reference in str(receipt["Subject"])
    assert application.reference in text(receipt)
    assert inkan.name in text(receipt)
    assert receipt["Auto-Submitted"] == "auto-generated"
    assert receipt["Content-Language"] == "ja"

    with django_capture_on_commit_callbacks(execute=True):
        services.status_change(application=application, status="reviewing", by=None)
        services.status_change(
            application=application,
            status="correction",
            by=None,
            message="使用目的を具体的にご記入ください。",
        )
    _receipt, reviewing, correction = parsed(sink)
    assert "審査中" in str(reviewing["Subject"])
    assert "補正依頼" in str(correction["Subject"])
    body = text(correction)
    assert application.reference in body
    assert "使用目的を具体的にご記入ください。" in body
    link = SITE + services.status_path(application)
    assert link in body
    assert f"/procedures/status/{application.reference}/" in link
    # Each mail is its own message: a resend would carry the same Message-ID.
    ids = {m["Message-ID"] for m in parsed(sink)}
    assert len(ids) == 3
    assert all("@city.example.jp>" in i for i in ids)


def test_no_mail_without_an_address(
    sink: SmtpSink, inkan: Procedure, django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        application = submit(inkan, email_address="")
        services.status_change(application=application, status="reviewing", by=None)
    assert sink.count == 0


@pytest.mark.parametrize("status", [SubscriberStatus.BOUNCED, SubscriberStatus.UNSUBSCRIBED])
def test_no_mail_to_an_address_notify_stopped(
    sink: SmtpSink, inkan: Procedure, status: str, django_capture_on_commit_callbacks: Any
) -> None:
    stop("taro@example.jp", status)  # a bounce, or a complaint
    with django_capture_on_commit_callbacks(execute=True):
        application = submit(inkan)
        services.status_change(application=application, status="reviewing", by=None)
    assert sink.count == 0
    with pytest.raises(notify_services.NotifyError):
        notify_services.send_direct(
            address="taro@EXAMPLE.jp", subject="x", body="y", kind="procedures.status"
        )


def test_the_citys_template_is_used_when_it_wrote_one(
    sink: SmtpSink, inkan: Procedure, django_capture_on_commit_callbacks: Any
) -> None:
    Template.objects.create(
        slug="procedures-status",
        name="申請の状況",
        event=notices.STATUS_EVENT,
        subject="【戸田市】((reference)) は「((status))」になりました",
        body="((procedure))\n((message))\n状況はこちら: ((link))\n戸田市役所",
    )
    application = submit(inkan)
    with django_capture_on_commit_callbacks(execute=True):
        services.status_change(application=application, status="reviewing", by=None)
    [mail] = parsed(sink)
    assert (
        str(mail["Subject"]).strip()
        == f"【戸田市】{application.reference} は「審査中」になりました"
    )
    body = text(mail)
    assert body.startswith(inkan.name)
    assert f"状況はこちら: {SITE}{services.status_path(application)}" in body
    assert "((" not in body


def test_an_applicant_subscribed_in_english_reads_english(
    sink: SmtpSink, inkan: Procedure, django_capture_on_commit_callbacks: Any
) -> None:
    Subscriber.objects.create(
        channel=Channel.EMAIL,
        address="tom@example.jp",
        address_key=notify_services.address_key(Channel.EMAIL, "tom@example.jp"),
        status=SubscriberStatus.ACTIVE,
        language="en",
    )
    application = submit(inkan, email_address="tom@example.jp")
    with django_capture_on_commit_callbacks(execute=True):
        services.status_change(application=application, status="reviewing", by=None)
    [mail] = parsed(sink)
    assert mail["Content-Language"] == "en"
    assert "Under review (審査中)" in str(mail["Subject"])
    assert inkan.name_en in text(mail)


def test_a_server_that_cannot_take_it_now_gets_it_later(
    sink: SmtpSink, inkan: Procedure, django_capture_on_commit_callbacks: Any
) -> None:
    application = submit(inkan)
    sink.fail_next(1)  # 451: try again later
    with django_capture_on_commit_callbacks(execute=True):
        services.status_change(application=application, status="reviewing", by=None)
    assert sink.count == 0
    [retry] = HUEY.scheduled()
    assert retry.retries == notices.ATTEMPTS - 1
    assert retry.eta is not None
    # The worker's scheduler, two minutes later, runs it again.
    [due] = HUEY.read_schedule(retry.eta)
    HUEY.execute(due, timestamp=retry.eta)
    [mail] = parsed(sink)
    assert application.reference in str(mail["Subject"])
    assert HUEY.scheduled() == []


def test_a_refusal_for_good_is_not_tried_again(
    sink: SmtpSink, inkan: Procedure, django_capture_on_commit_callbacks: Any
) -> None:
    sink.refuse = {"nobody@example.jp"}  # 550 at RCPT
    application = submit(inkan, email_address="nobody@example.jp")
    with django_capture_on_commit_callbacks(execute=True):
        services.status_change(application=application, status="reviewing", by=None)
    assert sink.count == 0
    assert HUEY.scheduled() == []
