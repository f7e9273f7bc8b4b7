"""The notify room's pages: residents subscribe, confirm, manage and stop; staff write, approve
and follow broadcasts, keep templates, topics and keys, and see the subscribers' counts."""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest
from django.test import Client
from django.urls import reverse

from machi.core.models import Area, AuditEvent, Municipality, User
from machi.core.roles import Role
from machi.notify import services, services_keys
from machi.notify.models import (
    ApiKey,
    Broadcast,
    BroadcastStatus,
    Channel,
    Delivery,
    DeliveryStatus,
    Subscriber,
    SubscriberStatus,
    Template,
    Topic,
)
from tests.wifi.smtp_fixture import SmtpSink, smtp_server  # noqa: F401 - the fixture

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _in_english(settings: Any) -> Iterator[None]:
    """These tests read messages in English (the msgids); the pages default to Japanese."""
    from django.utils import translation

    settings.LANGUAGE_CODE = "en"
    settings.MACHI_PUBLIC_URL = "http://testserver"
    settings.MACHI_NOTIFY_REQUIRE_APPROVAL = True
    settings.MACHI_LINE_FRIEND_URL = ""
    with translation.override("en"):
        yield


@pytest.fixture
def news(db: Any) -> Topic:
    return Topic.objects.create(slug="news", name="お知らせ", name_en="News", position=1)


@pytest.fixture
def disaster(db: Any) -> Topic:
    return Topic.objects.create(
        slug="disaster", name="防災・気象", name_en="Disaster and weather", emergency=True
    )


@pytest.fixture
def area(municipality: Municipality) -> Area:
    return Area.objects.create(municipality=municipality, name="上戸田一丁目")


@pytest.fixture
def smtp(smtp_server: SmtpSink, settings: Any) -> SmtpSink:  # noqa: F811
    settings.MACHI_NOTIFY_SMTP_HOST = smtp_server.host
    settings.MACHI_NOTIFY_SMTP_PORT = smtp_server.port
    return smtp_server


@pytest.fixture
def pr(make_staff: Callable[..., User]) -> User:
    return make_staff(Role.PR, username="pr")


@pytest.fixture
def pr2(make_staff: Callable[..., User]) -> User:
    return make_staff(Role.PR, username="pr2")


def active_subscriber(
    topics: list[Topic], *, address: str = "hanako@example.jp", language: str = "ja"
) -> Subscriber:
    subscriber = Subscriber.objects.create(
        channel=Channel.EMAIL,
        address=address,
        address_key=services.address_key(Channel.EMAIL, address),
        status=SubscriberStatus.ACTIVE,
        language=language,
    )
    subscriber.topics.set(topics)
    return subscriber


def b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def link_in(text: str, path: str) -> str:
    found = re.search(rf"https?://\S+{re.escape(path)}\S+", text)
    assert found, text
    return urlsplit(found.group(0)).path


# --- Subscribing by e-mail ----------------------------------------------------------------------


def test_a_resident_subscribes_by_email_confirms_and_changes_topics(
    smtp: SmtpSink, news: Topic, disaster: Topic, area: Area
) -> None:
    client = Client()
    page = client.get("/notify/")
    assert page.status_code == 200
    text = page.content.decode()
    assert "News" in text  # topics labelled in the page's language
    assert area.name in text
    assert 'id="push-subscribe"' in text
    assert "data-vapid-key=" in text
    assert 'id="line-title"' not in text
    assert "LINE" not in text

    response = client.post(
        "/notify/",
        {"address": "Taro@Example.JP", "topics": [news.pk], "areas": [area.pk], "language": "ja"},
    )
    assert response.status_code == 302
    assert response["Location"] == reverse("notify:subscribe_sent")
    subscriber = Subscriber.objects.get()
    assert subscriber.address == "Taro@example.jp"
    assert subscriber.status == SubscriberStatus.PENDING
    assert len(smtp.received) == 1
    mail = smtp.received[0]
    assert mail.message["To"] == "Taro@example.jp"

    link = link_in(mail.text, "/notify/confirm/")
    asked = client.get(link)  # a mail scanner opening the link confirms nothing
    assert asked.status_code == 200
    assert b"Complete the registration" in asked.content
    subscriber.refresh_from_db()
    assert subscriber.status == SubscriberStatus.PENDING
    confirmed = client.post(link)
    assert confirmed.status_code == 200
    assert confirmed["Referrer-Policy"] == "same-origin"
    subscriber.refresh_from_db()
    assert subscriber.status == SubscriberStatus.ACTIVE
    manage = reverse("notify:manage", args=[services.manage_token(subscriber)])
    assert manage in confirmed.content.decode()

    page = client.get(manage)
    assert page.status_code == 200
    assert "Ta…@example.jp" in page.content.decode()
    assert f'value="{news.pk}"' in page.content.decode()
    saved = client.post(manage, {"topics": [disaster.pk], "language": "en"})
    assert saved.status_code == 302
    subscriber.refresh_from_db()
    assert list(subscriber.topics.all()) == [disaster]
    assert list(subscriber.areas.all()) == []  # none chosen: the whole city
    assert subscriber.language == "en"


def test_the_page_answers_the_same_for_an_address_already_registered(
    smtp: SmtpSink, news: Topic
) -> None:
    active_subscriber([news], address="hanako@example.jp")
    response = Client().post(
        "/notify/", {"address": "hanako@example.jp", "topics": [news.pk], "language": "ja"}
    )
    assert response.status_code == 302
    assert response["Location"] == reverse("notify:subscribe_sent")
    assert Subscriber.objects.get().status == SubscriberStatus.ACTIVE


def test_subscribe_errors_are_summarised_and_shown_beside_the_field(
    smtp: SmtpSink, news: Topic
) -> None:
    client = Client()
    response = client.post("/notify/", {"address": "hanako@example.jp", "language": "ja"})
    assert response.status_code == 400
    text = response.content.decode()
    assert 'class="error-summary"' in text
    assert 'href="#id_topics_0"' in text
    assert 'id="id_topics_error"' in text
    assert "Choose at least one topic, or emergency information only." in text

    response = client.post(
        "/notify/", {"address": "not an address", "topics": [news.pk], "language": "ja"}
    )
    assert response.status_code == 400
    text = response.content.decode()
    assert 'href="#id_address"' in text
    assert 'id="id_address_error"' in text
    assert "Enter a valid e-mail address." in text
    assert not Subscriber.objects.exists()
    assert smtp.received == []


def test_a_mail_server_that_refuses_is_told_beside_the_address(smtp: SmtpSink, news: Topic) -> None:
    smtp.refuse = True
    response = Client().post(
        "/notify/", {"address": "a@example.jp", "topics": [news.pk], "language": "ja"}
    )
    assert response.status_code == 400
    assert b'id="id_address_error"' in response.content
    assert b"could not be sent" in response.content
    assert not Subscriber.objects.exists()  # no mail, no registration


def test_emergency_only_needs_no_topic(smtp: SmtpSink, news: Topic) -> None:
    response = Client().post(
        "/notify/", {"address": "a@example.jp", "emergency_only": "on", "language": "en"}
    )
    assert response.status_code == 302
    subscriber = Subscriber.objects.get()
    assert subscriber.emergency_only
    assert subscriber.language == "en"


def test_bad_links_get_clear_pages(news: Topic) -> None:
    client = Client()
    assert client.get("/notify/confirm/nonsense/").status_code == 400
    assert b"Subscribe again" in client.get("/notify/confirm/nonsense/").content
    assert client.get("/notify/manage/nonsense/").status_code == 404
    assert client.get("/notify/unsubscribe/nonsense/").status_code == 404
    assert client.post("/notify/unsubscribe/nonsense/").status_code == 404
    # A manage link works; a confirmation link is another salt and does not.
    subscriber = active_subscriber([news])
    confirm = services.confirm_token(subscriber)
    assert client.get(f"/notify/manage/{confirm}/").status_code == 404
    assert client.get(f"/notify/confirm/{services.manage_token(subscriber)}/").status_code == 400


# --- Unsubscribing ------------------------------------------------------------------------------


def test_one_click_unsubscribe_works_without_cookies_or_csrf_and_get_only_asks(
    news: Topic,
) -> None:
    subscriber = active_subscriber([news])
    url = f"/notify/unsubscribe/{services.manage_token(subscriber)}/"
    client = Client(enforce_csrf_checks=True)
    asked = client.get(url)
    assert asked.status_code == 200
    assert b'method="post"' in asked.content
    assert Subscriber.objects.filter(pk=subscriber.pk).exists()  # link scanners stop nothing

    provider = Client(enforce_csrf_checks=True)  # RFC 8058: no cookie, no token
    response = provider.post(
        url, "List-Unsubscribe=One-Click", content_type="application/x-www-form-urlencoded"
    )
    assert response.status_code == 200
    assert not Subscriber.objects.filter(pk=subscriber.pk).exists()
    # A provider's retry, a second click: the same answer.
    again = provider.post(
        url, "List-Unsubscribe=One-Click", content_type="application/x-www-form-urlencoded"
    )
    assert again.status_code == 200
    assert b"already been stopped" in client.get(url).content


def test_the_manage_page_stops_the_subscription(news: Topic) -> None:
    subscriber = active_subscriber([news])
    token = services.manage_token(subscriber)
    page = Client().get(f"/notify/manage/{token}/")
    assert f'action="/notify/unsubscribe/{token}/"'.encode() in page.content
    assert Client().post(f"/notify/unsubscribe/{token}/").status_code == 200
    assert not Subscriber.objects.exists()


# --- Web Push -----------------------------------------------------------------------------------


def push_body(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "subscription": {
            "endpoint": "https://push.example.net/send/abc123",
            "keys": {"p256dh": b64url(b"\x04" + b"k" * 64), "auth": b64url(b"a" * 16)},
        },
        "topics": ["news"],
        "areas": [],
        "language": "en",
        "emergency_only": False,
    }
    body.update(changes)
    return body


@pytest.fixture
def push_client(news: Topic) -> tuple[Client, str]:
    client = Client(enforce_csrf_checks=True)
    client.get("/notify/")  # sets the CSRF cookie, as for push.js
    return client, client.cookies["csrftoken"].value


def post_push(client_token: tuple[Client, str], body: Any) -> Any:
    client, token = client_token
    data = body if isinstance(body, str) else json.dumps(body)
    return client.post(
        "/notify/push/subscribe", data, content_type="application/json", HTTP_X_CSRFTOKEN=token
    )


def test_a_browser_subscribes_to_web_push(
    push_client: tuple[Client, str], news: Topic, area: Area
) -> None:
    response = post_push(push_client, push_body(topics=[str(news.pk)], areas=[area.pk]))
    assert response.status_code == 201
    subscriber = Subscriber.objects.get()
    assert subscriber.channel == Channel.WEBPUSH
    assert subscriber.status == SubscriberStatus.ACTIVE
    assert list(subscriber.areas.all()) == [area]
    assert response.json()["manage_url"] == services.manage_url(subscriber)
    # By slug too, and the same browser again updates its subscription.
    again = post_push(push_client, push_body(topics=["news"], emergency_only=True))
    assert again.status_code == 201
    assert Subscriber.objects.get().emergency_only


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ("{not json", ""),
        ("[1, 2]", ""),
        (push_body(subscription=None), "subscription"),
        (push_body(subscription={"endpoint": "https://push.example.net/x"}), "keys.p256dh"),
        (push_body(subscription={"keys": {}}), "endpoint"),
        (push_body(topics=["nonexistent"]), "topics"),
        (push_body(topics=[]), "topics"),
        (push_body(areas=[999999]), "areas"),
        (push_body(areas=["x"]), "areas"),
        (push_body(language="fr"), "language"),
        (push_body(emergency_only="yes"), "emergency_only"),
    ],
)
def test_push_subscribe_refuses_what_it_cannot_use(
    push_client: tuple[Client, str], body: Any, field: str
) -> None:
    response = post_push(push_client, body)
    assert response.status_code == 400
    assert response["Content-Type"] == "application/problem+json"
    problem = response.json()
    assert problem.get("field", "") == field
    assert problem["detail"]
    assert not Subscriber.objects.exists()


def test_push_subscribe_needs_the_csrf_token(news: Topic) -> None:
    client = Client(enforce_csrf_checks=True)
    response = client.post(
        "/notify/push/subscribe", json.dumps(push_body()), content_type="application/json"
    )
    assert response.status_code == 403


def test_the_service_worker_is_served_for_the_notify_scope() -> None:
    response = Client().get("/notify/sw.js")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/javascript")
    assert response["Service-Worker-Allowed"] == "/notify/"
    assert response["Cache-Control"] == "no-cache"
    assert b"showNotification" in response.content


# --- QR codes and LINE --------------------------------------------------------------------------


def test_qr_codes_for_posters(settings: Any, news: Topic) -> None:
    client = Client()
    page = client.get("/notify/qr.svg?target=page")
    assert page.status_code == 200
    assert page["Content-Type"] == "image/svg+xml"
    assert b"<svg" in page.content
    assert client.get("/notify/qr.svg?target=line").status_code == 404  # not configured
    assert client.get("/notify/qr.svg?target=other").status_code == 404

    settings.MACHI_LINE_FRIEND_URL = "https://lin.ee/example"
    assert client.get("/notify/qr.svg?target=line").status_code == 200
    text = client.get("/notify/").content.decode()
    assert "https://lin.ee/example" in text
    assert "/notify/qr.svg?target=line" in text


def test_a_registration_from_the_poster_qr_code_is_counted_as_such(
    smtp: SmtpSink, news: Topic
) -> None:
    client = Client()
    page = client.get("/notify/?via=qr")
    assert b'name="via" value="qr"' in page.content
    client.post(
        "/notify/",
        {"address": "a@example.jp", "topics": [news.pk], "language": "ja", "via": "qr"},
    )
    assert Subscriber.objects.get().source == "qr"


# --- The public archive -------------------------------------------------------------------------


def make_broadcast(**fields: Any) -> Broadcast:
    values: dict[str, Any] = {"subject": "件名", "body": "本文", "channels": ["email"]}
    values.update(fields)
    return Broadcast.objects.create(**values)


def test_the_archive_shows_only_what_was_sent_to_residents() -> None:
    sent = make_broadcast(subject="避難所を開設しました", status=BroadcastStatus.SENT)
    test = make_broadcast(subject="テスト配信", status=BroadcastStatus.SENT, test=True)
    draft = make_broadcast(subject="下書き", status=BroadcastStatus.DRAFT)
    cancelled = make_broadcast(subject="中止", status=BroadcastStatus.CANCELLED)
    client = Client()
    listing = client.get("/notify/messages/").content.decode()
    assert "避難所を開設しました" in listing
    assert "テスト配信" not in listing
    assert "下書き" not in listing
    assert "中止" not in listing
    assert client.get(f"/notify/messages/{sent.pk}/").status_code == 200
    for hidden in (test, draft, cancelled):
        assert client.get(f"/notify/messages/{hidden.pk}/").status_code == 404


def test_a_message_is_shown_in_english_when_there_is_english() -> None:
    sent = make_broadcast(
        subject="断水のお知らせ",
        body="本日断水します",
        subject_en="Water outage",
        body_en="No water today",
        status=BroadcastStatus.SENDING,
    )
    english = Client().get(f"/notify/messages/{sent.pk}/").content.decode()
    assert "No water today" in english
    assert "本日断水します" in english
    japanese = (
        Client().get(f"/notify/messages/{sent.pk}/", HTTP_ACCEPT_LANGUAGE="ja").content.decode()
    )
    assert "本日断水します" in japanese
    assert "No water today" not in japanese


# --- Console: access ----------------------------------------------------------------------------


CONSOLE_PAGES = [
    "/console/notify/",
    "/console/notify/new/",
    "/console/notify/templates/",
    "/console/notify/topics/",
    "/console/notify/subscribers/",
]


@pytest.mark.parametrize("role", ["shelter_staff", "counter"])
@pytest.mark.parametrize("url", CONSOLE_PAGES)
def test_staff_of_other_rooms_cannot_open_the_console_pages(
    request: pytest.FixtureRequest, client_for: Callable[[User], Client], role: str, url: str
) -> None:
    user = request.getfixturevalue(role)
    assert client_for(user).get(url).status_code == 403


def test_residents_are_sent_to_sign_in() -> None:
    response = Client().get("/console/notify/")
    assert response.status_code == 302
    assert "/console/login/" in response["Location"]


def test_auditors_read_but_do_not_write(
    client_for: Callable[[User], Client], auditor: User, news: Topic
) -> None:
    broadcast = make_broadcast(status=BroadcastStatus.AWAITING_APPROVAL)
    client = client_for(auditor)
    listing = client.get("/console/notify/")
    assert listing.status_code == 200
    assert b"New broadcast" not in listing.content
    detail = client.get(f"/console/notify/{broadcast.pk}/")
    assert detail.status_code == 200
    assert b"Approve" not in detail.content
    assert b"Cancel the broadcast" not in detail.content
    assert client.get("/console/notify/new/").status_code == 403
    assert client.post("/console/notify/new/", {"subject": "x"}).status_code == 403
    assert client.post(f"/console/notify/{broadcast.pk}/approve/").status_code == 403
    assert client.post(f"/console/notify/{broadcast.pk}/cancel/").status_code == 403
    assert client.post("/console/notify/topics/new/", {"name": "x"}).status_code == 403
    assert client.get(f"/console/notify/topics/{news.pk}/").status_code == 200
    assert client.post(f"/console/notify/topics/{news.pk}/", {"name": "x"}).status_code == 403
    assert client.get("/console/notify/keys/").status_code == 403
    assert Broadcast.objects.get(pk=broadcast.pk).status == BroadcastStatus.AWAITING_APPROVAL


# --- Console: writing and sending ---------------------------------------------------------------


def compose(**changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "subject": "広報とだ((号))のお知らせ",
        "body": "広報とだ((号))を発行しました。",
        "values.号": "12月号",
        "channels": ["email", "webpush", "line"],
        "action": "send",
    }
    data.update(changes)
    return data


def test_pr_writes_a_broadcast_that_a_second_person_approves(
    client_for: Callable[[User], Client], pr: User, pr2: User, news: Topic, area: Area
) -> None:
    client = client_for(pr)
    page = client.get("/console/notify/new/")
    assert page.status_code == 200
    response = client.post("/console/notify/new/", compose(topics=[news.pk], areas=[area.pk]))
    assert response.status_code == 302
    broadcast = Broadcast.objects.get()
    assert response["Location"] == f"/console/notify/{broadcast.pk}/"
    assert broadcast.subject == "広報とだ12月号のお知らせ"
    assert broadcast.body == "広報とだ12月号を発行しました。"
    assert broadcast.status == BroadcastStatus.AWAITING_APPROVAL
    assert broadcast.created_by == pr
    assert list(broadcast.areas.all()) == [area]

    detail = client.get(response["Location"])
    assert b"waits for a second person" in detail.content
    assert b"Approve and send" not in detail.content
    refused = client.post(f"/console/notify/{broadcast.pk}/approve/", follow=True)
    assert b"A second person must approve" in refused.content
    assert Broadcast.objects.get().status == BroadcastStatus.AWAITING_APPROVAL

    other = client_for(pr2)
    assert b"Approve and send" in other.get(f"/console/notify/{broadcast.pk}/").content
    approved = other.post(f"/console/notify/{broadcast.pk}/approve/")
    assert approved.status_code == 302
    broadcast.refresh_from_db()
    assert broadcast.status == BroadcastStatus.SENDING
    assert broadcast.approved_by == pr2


def test_an_emergency_is_sent_at_once(
    client_for: Callable[[User], Client], hq: User, disaster: Topic
) -> None:
    response = client_for(hq).post(
        "/console/notify/new/",
        compose(subject="避難指示", body="直ちに避難してください", emergency="on", everyone="on"),
    )
    assert response.status_code == 302
    broadcast = Broadcast.objects.get()
    assert broadcast.status == BroadcastStatus.SENDING
    assert broadcast.emergency
    assert broadcast.everyone


def test_a_scheduled_broadcast_waits_for_its_time(
    client_for: Callable[[User], Client], pr: User, news: Topic
) -> None:
    response = client_for(pr).post(
        "/console/notify/new/",
        compose(topics=[news.pk], test="on", scheduled_at="2099-01-01T09:00"),
        follow=True,
    )
    broadcast = Broadcast.objects.get()
    assert broadcast.status == BroadcastStatus.SCHEDULED
    assert broadcast.scheduled_at is not None
    assert broadcast.scheduled_at.isoformat() == "2099-01-01T00:00:00+00:00"  # 09:00 in Tokyo
    assert b"Scheduled" in response.content


def test_an_unfilled_placeholder_is_shown_beside_its_field(
    client_for: Callable[[User], Client], pr: User, news: Topic
) -> None:
    response = client_for(pr).post(
        "/console/notify/new/", compose(topics=[news.pk], **{"values.号": ""})
    )
    assert response.status_code == 400
    text = response.content.decode()
    assert 'id="id_values.号_error"' in text
    assert "Fill in: 号" in text
    assert 'href="#id_values.号"' in text  # the summary links to it
    assert not Broadcast.objects.exists()


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"subject": ""}, "subject", "Write a subject."),
        ({"channels": []}, "channels", "Choose at least one channel."),
        ({}, "topics", "Choose at least one topic."),
        ({"everyone": "on"}, "everyone", "Only an emergency broadcast"),
        ({"subject_en": "News"}, "body_en", "Write both the English subject and message"),
        ({"scheduled_at": "2001-01-01T09:00", "topics": "news"}, "scheduled_at", "in the past"),
    ],
)
def test_compose_errors_are_shown_beside_their_field(
    client_for: Callable[[User], Client],
    pr: User,
    news: Topic,
    changes: dict[str, Any],
    field: str,
    message: str,
) -> None:
    if changes.get("topics") == "news":
        changes = {**changes, "topics": [news.pk]}
    response = client_for(pr).post("/console/notify/new/", compose(**changes))
    assert response.status_code == 400
    text = response.content.decode()
    assert f'id="id_{field}_error"' in text
    assert message in text
    assert not Broadcast.objects.exists()


def test_the_preview_shows_each_channel_in_both_languages(
    client_for: Callable[[User], Client], pr: User
) -> None:
    client = client_for(pr)
    response = client.post(
        "/console/notify/preview/",
        {
            "subject": "((場所))を開設",
            "body": "避難所((場所))を開設しました。",
            "subject_en": "Shelter open",
            "body_en": "((場所)) is open.",
            "values.場所": "戸田東小学校",
            "channels": ["email", "webpush", "line"],
        },
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 200
    text = response.content.decode()
    assert "避難所戸田東小学校を開設しました。" in text
    assert "戸田東小学校 is open." in text
    assert "preview-mail" in text
    assert "preview-push" in text
    assert "preview-line" in text
    assert "/notify/manage/" in text  # the e-mail footer's link
    assert 'hx-swap-oob="true"' in text
    assert 'name="values.場所"' in text

    missing = client.post(
        "/console/notify/preview/",
        {"subject": "((場所))を開設", "body": "本文", "channels": ["email"]},
        HTTP_HX_REQUEST="true",
    ).content.decode()
    assert "Fill in before sending: 場所" in missing
    assert "((場所))を開設" in missing
    assert "preview-line" not in missing  # only the chosen channels


def test_the_preview_works_without_javascript(
    client_for: Callable[[User], Client], pr: User, news: Topic
) -> None:
    response = client_for(pr).post(
        "/console/notify/new/", compose(topics=[news.pk], action="preview")
    )
    assert response.status_code == 200
    assert "広報とだ12月号を発行しました。" in response.content.decode()
    assert not Broadcast.objects.exists()


def test_a_template_fills_the_compose_form(
    client_for: Callable[[User], Client], pr: User, disaster: Topic
) -> None:
    template = services.template_save(
        template=Template(slug="opened", name="避難所開設"),
        subject="((避難所))を開設しました",
        body="((日時))に((避難所))を開設しました。",
        kind="emergency",
        topics=[disaster],
    )
    client = client_for(pr)
    page = client.get(f"/console/notify/new/?template={template.pk}").content.decode()
    assert "((避難所))を開設しました" in page
    assert 'name="values.避難所"' in page
    assert 'name="values.日時"' in page
    fragment = client.get(
        f"/console/notify/new/?template={template.pk}", HTTP_HX_REQUEST="true"
    ).content.decode()
    assert fragment.startswith('<div id="compose"')
    assert "<html" not in fragment

    client.post(
        "/console/notify/new/",
        {
            "template": template.pk,
            "subject": template.subject,
            "body": template.body,
            "values.避難所": "戸田東小学校",
            "values.日時": "12時",
            "topics": [disaster.pk],
            "channels": ["email"],
            "emergency": "on",
        },
    )
    broadcast = Broadcast.objects.get()
    assert broadcast.template == template
    assert broadcast.template_version == 1
    assert broadcast.body == "12時に戸田東小学校を開設しました。"


def test_a_test_broadcast_is_sent_and_its_progress_and_csv_follow(
    client_for: Callable[[User], Client],
    pr: User,
    news: Topic,
    django_capture_on_commit_callbacks: Any,
) -> None:
    for n in range(3):
        active_subscriber([news], address=f"r{n}@example.jp")
    client = client_for(pr)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post("/console/notify/new/", compose(topics=[news.pk], test="on"))
    assert response.status_code == 302
    broadcast = Broadcast.objects.get()
    assert broadcast.test
    progress = client.get(f"/console/notify/{broadcast.pk}/progress/?format=json").json()
    assert progress == {
        "status": "sent",
        "total": 3,
        "delivered": 3,
        "failed": 0,
        "progress": 100,
    }
    fragment = client.get(f"/console/notify/{broadcast.pk}/progress/").content.decode()
    assert "<progress" in fragment
    assert 'value="100"' in fragment
    assert "hx-trigger" not in fragment  # finished: no more polling

    csv_response = client.get(f"/console/notify/{broadcast.pk}/deliveries.csv")
    assert csv_response.status_code == 200
    body = b"".join(csv_response.streaming_content).decode("utf-8")
    assert body.startswith("\ufeffid,channel,status,attempts,sent_at,error,address\r\n")
    assert body.count("\r\n") == 4
    assert "r0…@example.jp" in body
    assert "r0@example.jp" not in body
    event = AuditEvent.objects.get(action="export", object_type="notify.broadcast")
    assert event.object_id == str(broadcast.pk)


def test_the_progress_polls_while_sending(
    client_for: Callable[[User], Client], pr: User, news: Topic
) -> None:
    broadcast = make_broadcast(status=BroadcastStatus.SENDING, total=4, delivered=1, failed=1)
    subscriber = active_subscriber([news])
    Delivery.objects.create(
        broadcast=broadcast,
        subscriber=subscriber,
        channel="email",
        status=DeliveryStatus.DELIVERED,
    )
    client = client_for(pr)
    fragment = client.get(f"/console/notify/{broadcast.pk}/progress/").content.decode()
    assert 'hx-trigger="every 2s"' in fragment
    assert client.get(f"/console/notify/{broadcast.pk}/progress/?format=json").json() == {
        "status": "sending",
        "total": 4,
        "delivered": 1,
        "failed": 1,
        "progress": 50,
    }
    listing = client.get("/console/notify/").content.decode()
    assert '<progress id="progress-' in listing
    assert 'value="50"' in listing


def test_a_broadcast_is_cancelled_after_a_confirmation(
    client_for: Callable[[User], Client], pr: User
) -> None:
    broadcast = make_broadcast(status=BroadcastStatus.AWAITING_APPROVAL, created_by=pr)
    client = client_for(pr)
    asked = client.post(f"/console/notify/{broadcast.pk}/cancel/")
    assert asked.status_code == 200
    assert b'name="confirm" value="yes"' in asked.content
    assert Broadcast.objects.get().status == BroadcastStatus.AWAITING_APPROVAL
    done = client.post(f"/console/notify/{broadcast.pk}/cancel/", {"confirm": "yes"})
    assert done.status_code == 302
    assert Broadcast.objects.get().status == BroadcastStatus.CANCELLED


def test_a_draft_is_submitted_from_its_page(
    client_for: Callable[[User], Client], pr: User, settings: Any
) -> None:
    settings.MACHI_NOTIFY_REQUIRE_APPROVAL = False
    broadcast = make_broadcast(created_by=pr)
    client = client_for(pr)
    assert b'/submit/"' in client.get(f"/console/notify/{broadcast.pk}/").content
    assert client.post(f"/console/notify/{broadcast.pk}/submit/").status_code == 302
    assert Broadcast.objects.get().status == BroadcastStatus.SENDING


def test_the_list_filters_by_status(client_for: Callable[[User], Client], pr: User) -> None:
    make_broadcast(subject="送信済みの件", status=BroadcastStatus.SENT)
    make_broadcast(subject="下書きの件")
    client = client_for(pr)
    assert "下書きの件" in client.get("/console/notify/").content.decode()
    only_sent = client.get("/console/notify/?status=sent").content.decode()
    assert "送信済みの件" in only_sent
    assert "下書きの件" not in only_sent


# --- Console: templates, topics -----------------------------------------------------------------


def test_pr_keeps_templates(client_for: Callable[[User], Client], pr: User, news: Topic) -> None:
    client = client_for(pr)
    response = client.post(
        "/console/notify/templates/new/",
        {
            "name": "断水",
            "slug": "water",
            "kind": "normal",
            "event": "",
            "subject": "((地区))で断水",
            "body": "((日時))まで断水します。",
            "topics": [news.pk],
        },
    )
    assert response.status_code == 302
    template = Template.objects.get()
    assert template.version == 1
    listing = client.get("/console/notify/templates/").content.decode()
    assert "((地区))" in listing
    assert "((日時))" in listing
    edit = client.get(f"/console/notify/templates/{template.pk}/").content.decode()
    assert "evacuation.issued" in edit  # the events a template may answer
    client.post(
        f"/console/notify/templates/{template.pk}/",
        {
            "name": "断水",
            "slug": "water",
            "kind": "emergency",
            "event": "shelter.opened",
            "subject": "断水",
            "body": "断水します。",
        },
    )
    template.refresh_from_db()
    assert (template.version, template.kind, template.event) == (2, "emergency", "shelter.opened")
    bad = client.post("/console/notify/templates/new/", {"name": "x", "slug": "water"})
    assert bad.status_code == 400


def test_pr_keeps_topics(client_for: Callable[[User], Client], pr: User) -> None:
    client = client_for(pr)
    response = client.post(
        "/console/notify/topics/new/",
        {"name": "子育て", "name_en": "Child care", "slug": "kids", "position": 3, "active": "on"},
    )
    assert response.status_code == 302
    topic = Topic.objects.get()
    assert topic.label("en") == "Child care"
    assert AuditEvent.objects.filter(action="create", object_type="notify.topic").exists()
    assert "子育て" in client.get("/console/notify/topics/").content.decode()
    client.post(
        f"/console/notify/topics/{topic.pk}/",
        {"name": "子育て", "slug": "kids", "position": 3},  # active unticked
    )
    topic.refresh_from_db()
    assert not topic.active


# --- Console: subscribers -----------------------------------------------------------------------


def test_subscribers_are_counted_and_one_found_by_exact_address(
    client_for: Callable[[User], Client], pr: User, news: Topic, area: Area
) -> None:
    found = active_subscriber([news], address="hanako@example.jp")
    found.areas.set([area])
    active_subscriber([news], address="jiro@example.jp", language="en")
    client = client_for(pr)
    page = client.get("/console/notify/subscribers/")
    assert page.status_code == 200
    text = page.content.decode()
    assert "hanako" not in text
    assert "jiro" not in text
    assert area.name in text

    miss = client.post("/console/notify/subscribers/", {"action": "search", "address": "han"})
    assert miss.status_code == 400
    none = client.post(
        "/console/notify/subscribers/", {"action": "search", "address": "nobody@example.jp"}
    )
    assert b"No subscription with this address." in none.content
    assert not AuditEvent.objects.filter(action="read", object_type="notify.subscriber").exists()

    hit = client.post(
        "/console/notify/subscribers/", {"action": "search", "address": "hanako@EXAMPLE.jp"}
    )
    assert hit["Cache-Control"] == "no-store"
    text = hit.content.decode()
    assert "ha…@example.jp" in text
    assert "hanako@example.jp" not in text
    event = AuditEvent.objects.get(action="read", object_type="notify.subscriber")
    assert event.object_id == str(found.pk)

    stopped = client.post(
        "/console/notify/subscribers/", {"action": "unsubscribe", "subscriber": str(found.pk)}
    )
    assert stopped.status_code == 302
    assert not Subscriber.objects.filter(pk=found.pk).exists()
    assert AuditEvent.objects.filter(action="delete", object_type="notify.subscriber").exists()


def test_hq_finds_but_does_not_stop_subscriptions(
    client_for: Callable[[User], Client], hq: User, news: Topic
) -> None:
    found = active_subscriber([news])
    client = client_for(hq)
    hit = client.post(
        "/console/notify/subscribers/", {"action": "search", "address": found.address}
    )
    assert b"Stop this subscription" not in hit.content
    refused = client.post(
        "/console/notify/subscribers/", {"action": "unsubscribe", "subscriber": str(found.pk)}
    )
    assert refused.status_code == 403
    assert Subscriber.objects.filter(pk=found.pk).exists()


# --- Console: API keys --------------------------------------------------------------------------


def test_api_keys_are_shown_once_and_revoked(
    client_for: Callable[[User], Client], pr: User
) -> None:
    client = client_for(pr)
    made = client.post(
        "/console/notify/keys/", {"action": "create", "name": "防災無線", "kind": "live"}
    )
    assert made.status_code == 200
    assert made["Cache-Control"] == "no-store"
    secret = re.search(r'value="(machi_notify_live_[^"]+)"', made.content.decode())
    assert secret
    key = ApiKey.objects.get()
    assert secret.group(1) not in client.get("/console/notify/keys/").content.decode()
    assert services_keys.api_key_authenticate(secret.group(1)) == key
    assert services_keys.api_key_authenticate("machi_notify_live_wrong") is None
    assert ApiKey.objects.get().last_used_at is not None

    client.post("/console/notify/keys/", {"action": "revoke", "key": key.pk})
    assert services_keys.api_key_authenticate(secret.group(1)) is None
    assert AuditEvent.objects.filter(object_type="notify.apikey").count() == 2


# --- Console: the demo's mailbox ----------------------------------------------------------------


def test_the_mailbox_exists_only_in_the_demo(
    client_for: Callable[[User], Client], pr: User, settings: Any, tmp_path: Any
) -> None:
    settings.DEMO = False
    settings.DEBUG = False
    client = client_for(pr)
    assert client.get("/console/notify/mailbox/").status_code == 404

    settings.DEMO = True
    settings.DATA_DIR = tmp_path
    store = tmp_path / "mailsink"
    store.mkdir()
    (store / "1.eml").write_bytes(
        b"From: city@example.jp\r\nTo: hanako@example.jp\r\nSubject: =?utf-8?b?"
        + base64.b64encode("お知らせ".encode())
        + b"?=\r\nList-Unsubscribe: <http://testserver/notify/unsubscribe/t/>\r\n"
        b"Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
        + "本文です\r\n".encode()
    )
    entry = {
        "seq": 1,
        "at": "2025-01-01T00:00:00.000+00:00",
        "mail_from": "city@example.jp",
        "rcpt_tos": ["hanako@example.jp"],
        "message_id": "<1@example.jp>",
        "subject": "お知らせ",
        "language": "ja",
    }
    (store / "index.jsonl").write_text(json.dumps(entry, ensure_ascii=False) + "\n")
    listing = client.get("/console/notify/mailbox/").content.decode()
    assert "お知らせ" in listing
    assert "2025-01-01 09:00:00" in listing
    opened = client.get("/console/notify/mailbox/?seq=1").content.decode()
    assert "List-Unsubscribe" in opened
    assert "本文です" in opened
    assert "No such message" in client.get("/console/notify/mailbox/?seq=9").content.decode()
