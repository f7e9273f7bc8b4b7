"""Resident notifications through the pages: a resident subscribes by e-mail on a phone,
confirms from the mail, changes the language and stops; the form's mistakes are summarised;
PR writes a broadcast from a template, previews and sends it as a test, and a second one waits
for HQ's approval; the demo's mailbox shows what the mail server received.

Mail goes to the local SMTP sink (``machi.notify.peers.smtp_sink``) started in this process on a
free port: the live server runs in the same process, so the ``settings`` fixture points it
there. Every page passes axe-core without serious or critical problems, runs under the real
Content-Security-Policy, and the residents' pages fit a phone. Screenshots go to
$MACHI_SCREENSHOT_DIR (``notify-*.png``) when it is set, else to pytest's temporary folder.
"""

from __future__ import annotations

import email
import email.policy
import os
import re
import time
from collections.abc import Callable, Iterator
from email.message import EmailMessage
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.browser.conftest import english_left

pytestmark = pytest.mark.browser
expect = pytest.importorskip(
    "playwright.sync_api", reason="browser tests need the playwright package"
).expect

PHONE = {"width": 390, "height": 844}
ADDRESS = "hanako.toda@example.jp"
# A finished broadcast's status: 送信済み, 配信完了… (not 送信日時, "the time it was sent").
SENT = re.compile("済|完了")
EVENT = {
    "イベント名": "戸田橋花火大会",
    "日時": "8月2日 19時",
    "場所": "荒川河川敷",
    "詳細": "雨天中止",
}


@pytest.fixture
def shots(tmp_path: Path) -> Path:
    configured = os.environ.get("MACHI_SCREENSHOT_DIR")
    folder = Path(configured) if configured else tmp_path
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture
def sink(settings: Any, tmp_path: Path, live_server: Any) -> Iterator[Any]:
    """The local SMTP sink the notify room sends through; links in mail lead to the live server.

    It keeps what it receives on disk too, where the demo's mailbox page reads it
    (``DATA_DIR/mailsink``)."""
    from machi.notify.peers.smtp_sink import SmtpSink

    settings.DATA_DIR = tmp_path
    server = SmtpSink(directory=tmp_path / "mailsink").start()
    settings.MACHI_NOTIFY_SMTP_HOST = server.host
    settings.MACHI_NOTIFY_SMTP_PORT = server.port
    settings.MACHI_PUBLIC_URL = live_server.url
    settings.MACHI_NOTIFY_REQUIRE_APPROVAL = True
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def notify_city(demo_city: Any, sink: Any) -> Any:
    """The demo city with the demo's topics and templates (``machi demo`` loads them too)."""
    from machi.notify import demo

    demo.topics_load()
    demo.templates_load()
    return demo_city


def mails_to(sink: Any, address: str, *, count: int = 1, seconds: float = 10) -> list[EmailMessage]:
    """The messages the sink received for the address, waiting (bounded) for ``count``."""
    deadline = time.monotonic() + seconds
    while True:
        found = [
            email.message_from_bytes(item.data, policy=email.policy.default)
            for item in list(sink.received)
            if address in item.rcpt_tos
        ]
        if len(found) >= count or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert len(found) >= count, f"{len(found)} mail(s) to {address}, expected {count}"
    return [message for message in found if isinstance(message, EmailMessage)]


def text_of(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("plain",))
    assert part is not None, "the mail has no text part"
    return str(part.get_content())


def link_in(text: str, path: str) -> str:
    found = re.search(rf"https?://\S+{re.escape(path)}\S+", text)
    assert found, f"no link to {path} in:\n{text}"
    return urlsplit(found.group(0)).path


def fits(page: Any, width: int) -> None:
    scroll = page.evaluate("() => document.documentElement.scrollWidth")
    assert scroll <= width + 1, f"{page.url} is {scroll} px wide in a {width} px window"


# Latin words a Japanese page may well show: names of things, not untranslated sentences.
LATIN_ALLOWED = frozenset(
    {"LINE", "Web", "English", "CSV", "Excel", "API", "Ctrl", "Mac", "iPhone", "iPad", "QR"}
    | {"Machi", "MPL", "JAPAN", "Wi-Fi", "Wi", "Fi", "Push"}
)


def japanese_only(page: Any) -> None:
    left = english_left(
        page, allowed=LATIN_ALLOWED, skip=".mail-headers dt", strip=r"\(\([^)]*\)\)"
    )
    assert not left, f"English left on the Japanese page {page.url}: {left}"


def shoot(page: Any, path: Path) -> None:
    page.evaluate("() => document.fonts.ready")
    page.screenshot(path=str(path), full_page=True)


# --- The resident -------------------------------------------------------------------------------


def test_the_home_page_leads_to_the_notifications(
    new_context: Callable[..., Any],
    notify_city: Any,
    assert_accessible: Callable[[Any], None],
) -> None:
    page = new_context(viewport=PHONE, bypass_csp=True).new_page()
    page.goto("/")
    card = page.locator(".card-list .card").filter(has=page.locator("a[href='/notify/']"))
    expect(card, "no card on the home page links to /notify/").to_have_count(1)
    link = card.locator("a[href='/notify/']")
    expect(link).to_contain_text(re.compile("メール"))
    expect(link).to_contain_text("LINE")
    link.click()
    page.wait_for_url("**/notify/")
    expect(page.get_by_role("heading", level=1)).to_have_text("市のお知らせを受け取る")
    assert_accessible(page)
    japanese_only(page)


def test_a_resident_subscribes_by_email_on_a_phone_and_later_stops(
    new_context: Callable[..., Any],
    notify_city: Any,
    sink: Any,
    settings: Any,
    assert_accessible: Callable[[Any], None],
    shots: Path,
) -> None:
    from machi.notify.models import Subscriber, SubscriberStatus
    from machi.notify.selectors import areas_offered

    settings.MACHI_LINE_FRIEND_URL = "https://line.me/R/ti/p/@machi-demo"  # all three ways
    area = areas_offered().order_by("name").first()
    assert area is not None, "the demo city has no areas"
    page = new_context(viewport=PHONE, bypass_csp=True).new_page()

    page.goto("/notify/")
    expect(page.get_by_role("heading", level=1)).to_have_text("市のお知らせを受け取る")
    expect(page.get_by_role("button", name="メールで登録する")).to_be_visible()
    expect(page.locator("#push-subscribe")).to_be_visible()
    expect(page.locator("#line-title")).to_be_visible()
    assert_accessible(page)
    japanese_only(page)
    fits(page, PHONE["width"])
    shoot(page, shots / "notify-subscribe-phone.png")

    page.get_by_label("メールアドレス").fill(ADDRESS)
    page.get_by_label("防災・気象情報").check()
    page.get_by_label("イベント", exact=True).check()
    page.locator("#id_areas").select_option(label=area.name)
    expect(page.get_by_label("日本語")).to_be_checked()
    page.get_by_role("button", name="メールで登録する").click()
    page.wait_for_url("**/notify/sent/")
    expect(page.get_by_role("heading", level=1)).to_have_text("確認メールをお送りしました")
    assert_accessible(page)
    japanese_only(page)
    fits(page, PHONE["width"])

    (mail,) = mails_to(sink, ADDRESS)
    assert mail["To"] == ADDRESS
    subscriber = Subscriber.objects.get(address=ADDRESS)
    assert subscriber.status == SubscriberStatus.PENDING
    assert {t.slug for t in subscriber.topics.all()} == {"disaster", "event"}
    assert list(subscriber.areas.all()) == [area]

    # The link in the mail asks first; the button confirms.
    page.goto(link_in(text_of(mail), "/notify/confirm/"))
    expect(page.get_by_role("heading", level=1)).to_have_text("登録の確認")
    assert_accessible(page)
    japanese_only(page)
    page.get_by_role("button", name="登録を完了する").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("登録が完了しました")
    assert_accessible(page)
    japanese_only(page)
    fits(page, PHONE["width"])
    shoot(page, shots / "notify-confirmed-phone.png")
    subscriber.refresh_from_db()
    assert subscriber.status == SubscriberStatus.ACTIVE

    # Later: the messages in English.
    page.get_by_role("link", name="受け取る内容を変更する").click()
    page.wait_for_url("**/notify/manage/*/")
    expect(page.get_by_role("heading", level=1)).to_have_text("受け取る内容の設定")
    expect(page.get_by_label("防災・気象情報")).to_be_checked()
    expect(page.get_by_label("イベント", exact=True)).to_be_checked()
    facts = page.locator("main dl.facts")
    expect(facts).to_contain_text("ha…@example.jp")
    # The e-mail address is not a 住所 (postal address); an active subscription is not
    # 対応中 ("being handled", an incident's state).
    expect(facts).not_to_contain_text("住所")
    expect(facts).not_to_contain_text("対応中")
    assert_accessible(page)
    japanese_only(page)
    fits(page, PHONE["width"])
    shoot(page, shots / "notify-manage-phone.png")
    page.get_by_label("English").check()
    page.get_by_role("button", name="設定を保存する").click()
    expect(page.get_by_text("設定を保存しました。")).to_be_visible()
    expect(page.get_by_label("English")).to_be_checked()
    assert_accessible(page)
    japanese_only(page)
    subscriber.refresh_from_db()
    assert subscriber.language == "en"
    assert {t.slug for t in subscriber.topics.all()} == {"disaster", "event"}

    # And then no more.
    page.get_by_role("button", name="配信を停止する").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("配信を停止しました")
    assert_accessible(page)
    japanese_only(page)
    fits(page, PHONE["width"])
    shoot(page, shots / "notify-unsubscribed-phone.png")
    assert not Subscriber.objects.filter(pk=subscriber.pk).exists()  # the address is deleted


def test_subscribe_mistakes_are_summarised_and_linked_to_their_fields(
    new_context: Callable[..., Any],
    notify_city: Any,
    sink: Any,
    assert_accessible: Callable[[Any], None],
    shots: Path,
) -> None:
    from machi.notify.models import Subscriber

    page = new_context(viewport=PHONE, bypass_csp=True).new_page()
    page.goto("/notify/")
    page.get_by_role("button", name="メールで登録する").click()

    summary = page.get_by_role("alert")
    expect(summary).to_be_visible()
    expect(summary).to_be_focused()
    expect(summary.get_by_role("heading", level=2)).to_have_text("入力内容を確認してください")
    address = page.get_by_label("メールアドレス")
    expect(address).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#id_address_error")).to_contain_text("メールアドレスを入力してください。")
    expect(address).to_have_accessible_description(re.compile("メールアドレスを入力してください"))
    assert_accessible(page)
    japanese_only(page)
    fits(page, PHONE["width"])
    shoot(page, shots / "notify-subscribe-errors-phone.png")

    link = summary.get_by_role("link", name=re.compile("メールアドレス"))
    link.click()
    expect(page).to_have_url(re.compile(r"#id_address$"))
    expect(address).to_be_focused()
    assert not Subscriber.objects.exists()
    assert not sink.received

    # Both mistakes at once: the topics too, not only after the address is put right.
    topics = summary.get_by_role("link", name=re.compile("分野"))
    expect(topics, "the missing topics are not in the summary").to_have_count(1)
    expect(page.locator("#id_topics_error")).to_contain_text("分野を1つ以上選ぶか")
    topics.click()
    expect(page).to_have_url(re.compile(r"#id_topics_0$"))
    expect(page.locator("#id_topics_0")).to_be_focused()


# --- Staff --------------------------------------------------------------------------------------


def compose_from_the_event_template(page: Any) -> None:
    """On the compose page: pick the template (htmx fills the form) and fill its values."""
    page.goto("/console/notify/new/")
    expect(page.get_by_role("heading", level=1)).to_have_text("新規配信")
    page.get_by_label("テンプレートから作成").select_option(label="イベントのお知らせ")
    page.wait_for_url(re.compile(r"/console/notify/new/\?template=\d+$"))
    expect(page.locator("#id_subject")).to_have_value("【イベント】((イベント名))")
    expect(page.locator("#id_body")).to_have_value(re.compile(r"^\(\(イベント名\)\)を開催します"))
    # The broadcast's text is its 本文 (as the English one is 本文（英語）), not a 電文 (telegram).
    expect(page.locator("label[for=id_body]")).to_contain_text("本文")
    values = page.locator("#placeholder-fields")
    expect(values.get_by_role("group", name="差し込む値")).to_be_visible()
    for name, value in EVENT.items():
        values.get_by_label(name, exact=True).fill(value)


def test_pr_sends_a_test_broadcast_and_hq_approves_the_next(
    new_context: Callable[..., Any],
    notify_city: Any,
    sink: Any,
    sign_in: Callable[[Any, str], None],
    assert_accessible: Callable[[Any], None],
    shots: Path,
    settings: Any,
) -> None:
    from machi.notify import demo
    from machi.notify.models import Broadcast, BroadcastStatus, Delivery

    demo.subscribers_load(count=30, line_users=0)
    settings.MACHI_LINE_CHANNEL_TOKEN = "line-token"  # the city has LINE (no LINE subscribers)
    pr = new_context(bypass_csp=True).new_page()
    sign_in(pr, "pr")
    compose_from_the_event_template(pr)
    assert_accessible(pr)
    japanese_only(pr)

    pr.get_by_role("button", name="プレビュー").click()
    preview = pr.locator("#preview")
    expect(preview.get_by_role("heading", name="プレビュー")).to_be_visible()
    expect(preview.locator(".preview-mail")).to_have_count(2)  # Japanese and English
    expect(preview.locator(".preview-push")).to_have_count(2)
    expect(preview.locator(".preview-line")).to_have_count(2)
    mail = preview.locator(".preview-mail").first  # Japanese first, then English
    expect(mail.locator(".preview-mail__subject")).to_contain_text("【イベント】戸田橋花火大会")
    expect(mail.locator(".preview-mail__body")).to_contain_text("場所: 荒川河川敷")
    expect(preview.locator(".preview-push").first).to_contain_text("戸田橋花火大会")
    expect(preview.locator(".preview-line").first).to_contain_text("戸田橋花火大会")
    expect(preview.locator(".preview-mail").last).to_contain_text("[Event] 戸田橋花火大会")
    expect(preview.locator(".preview__missing")).to_have_count(0)
    # The values typed survive the preview's re-rendering of their inputs.
    expect(pr.get_by_label("場所", exact=True)).to_have_value("荒川河川敷")
    expect(preview).not_to_contain_text("((")
    assert_accessible(pr)
    japanese_only(pr)
    shoot(pr, shots / "notify-compose-preview-desktop.png")

    pr.get_by_label("テスト（何も送信しない）").check()
    pr.get_by_role("button", name="配信する", exact=True).click()
    pr.wait_for_url(re.compile(r"/console/notify/[0-9a-f-]{36}/$"))
    expect(pr.get_by_text("テスト配信を開始しました。住民には何も送信されません。")).to_be_visible()
    expect(pr.get_by_role("heading", level=1)).to_have_text("【イベント】戸田橋花火大会")
    expect(pr.locator("main .toolbar .tag")).to_contain_text("テスト")
    progress = pr.locator("#broadcast-progress")
    bar = progress.locator("progress#progress-bar")
    expect(bar).to_be_visible()
    # Sent inside the request (the test settings run tasks at once), or followed every 2 s.
    expect(bar).to_have_attribute("value", "100", timeout=15_000)
    expect(progress.locator(".status")).to_have_text(SENT)
    expect(progress).not_to_have_attribute("hx-trigger", "every 2s")
    expect(pr.locator("main dl.facts")).not_to_contain_text("発生")  # Started: 開始, not 発生
    assert_accessible(pr)
    japanese_only(pr)
    shoot(pr, shots / "notify-detail-test-desktop.png")
    first = Broadcast.objects.get(test=True)
    assert first.status == BroadcastStatus.SENT
    assert first.total == Delivery.objects.filter(broadcast=first).count() > 0
    assert not sink.received, "a test broadcast sent mail"

    # Not a test, not an emergency: it waits for a second person.
    compose_from_the_event_template(pr)
    pr.get_by_role("button", name="配信する", exact=True).click()
    pr.wait_for_url(re.compile(r"/console/notify/[0-9a-f-]{36}/$"))
    expect(
        pr.get_by_text("保存しました。この配信は、別の職員の承認後に送信されます。")
    ).to_be_visible()
    expect(pr.locator("#broadcast-progress .status")).to_have_text("承認待ち")
    expect(pr.get_by_role("button", name="承認して配信する")).to_have_count(0)
    assert_accessible(pr)
    japanese_only(pr)
    shoot(pr, shots / "notify-detail-awaiting-desktop.png")
    second = Broadcast.objects.get(test=False)
    assert second.status == BroadcastStatus.AWAITING_APPROVAL

    hq = new_context(bypass_csp=True).new_page()
    sign_in(hq, "hq")
    hq.goto(f"/console/notify/{second.pk}/")
    hq.get_by_role("button", name="承認して配信する").click()
    expect(hq.get_by_text(re.compile("^承認しました。"))).to_be_visible()
    bar = hq.locator("#broadcast-progress progress#progress-bar")
    expect(bar).to_have_attribute("value", "100", timeout=15_000)
    expect(hq.locator("#broadcast-progress .status")).to_have_text(SENT)
    assert_accessible(hq)
    japanese_only(hq)
    shoot(hq, shots / "notify-detail-approved-desktop.png")
    second.refresh_from_db()
    assert second.status == BroadcastStatus.SENT
    assert second.approved_by is not None
    assert second.approved_by.username == "hq"
    assert len(sink.received) == second.delivered == second.total

    # Both are in the list, each with its progress.
    hq.locator("main").get_by_role("link", name="お知らせ配信", exact=True).click()
    hq.wait_for_url(re.compile(r"/console/notify/$"))
    rows = hq.locator("main tbody tr")
    expect(rows).to_have_count(2)
    expect(rows.locator("progress")).to_have_count(2)
    for index in range(2):
        expect(rows.nth(index).locator("progress")).to_have_attribute("value", "100")
        expect(rows.nth(index).locator(".status")).to_have_text(SENT)
    assert_accessible(hq)
    japanese_only(hq)
    shoot(hq, shots / "notify-index-desktop.png")


def test_the_demo_mailbox_shows_what_the_sink_received(
    new_context: Callable[..., Any],
    notify_city: Any,
    sink: Any,
    settings: Any,
    sign_in: Callable[[Any, str], None],
    assert_accessible: Callable[[Any], None],
    shots: Path,
) -> None:
    from machi.notify import services
    from machi.notify.models import Topic

    settings.DEBUG = True  # the mailbox exists in the demo and in development only
    services.subscribe_email(
        address=ADDRESS,
        choices=services.Choices(topics=[Topic.objects.get(slug="disaster")]),
    )
    sink.flush()
    page = new_context(bypass_csp=True).new_page()
    sign_in(page, "pr")
    page.goto("/console/notify/mailbox/")
    expect(page.get_by_role("heading", level=1)).to_have_text("デモ用受信箱")
    row = page.locator("tbody tr").filter(has_text=ADDRESS)
    expect(row).to_have_count(1)
    # The recipients' column: 宛先, not 終了日 (the end of a period).
    expect(page.locator("main thead")).not_to_contain_text("終了日")
    assert_accessible(page)
    japanese_only(page)
    row.get_by_role("link").click()
    opened = page.locator(".mail-opened")
    expect(opened).to_be_visible()
    expect(opened.locator(".mail-body")).to_contain_text("/notify/confirm/")
    expect(opened.locator(".mail-headers")).to_contain_text(ADDRESS)
    assert_accessible(page)
    japanese_only(page)
    shoot(page, shots / "notify-mailbox-desktop.png")
