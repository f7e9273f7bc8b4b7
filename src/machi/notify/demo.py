"""The demo city's notifications: Toda's topics, the emergency templates, some subscribers, and
the local peers (an SMTP sink and a fake of the LINE Messaging API) that `machi demo` starts.

The topics follow Toda city's いいとだメール (お知らせ, 防災・気象, 防災行政無線, 防犯, 産業・就労)
plus the ones residents of other cities commonly choose (子育て, イベント, ごみ). The
subscribers are made up (addresses under example.jp, reserved for examples by JPRS).
"""

from __future__ import annotations

import hashlib
import random
import sys
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from machi.core.models import Area
from machi.notify import services
from machi.notify.models import (
    Channel,
    Subscriber,
    SubscriberStatus,
    Template,
    TemplateKind,
    Topic,
)

TOPICS = (
    # slug, name, English, emergency, description
    ("news", "市からのお知らせ", "News from the city", False, "市政・手続き・施設のお知らせ"),
    (
        "disaster",
        "防災・気象情報",
        "Disaster and weather",
        True,
        "避難情報、避難所の開設、気象警報",
    ),
    ("musen", "防災行政無線", "Outdoor loudspeaker broadcasts", True, "防災行政無線の放送内容"),
    ("crime", "防犯情報", "Crime prevention", False, "不審者情報、特殊詐欺の注意喚起"),
    ("work", "産業・就労", "Business and jobs", False, "就労支援、事業者向け情報"),
    ("kosodate", "子育て", "Childcare", False, "子育て支援、健診、保育"),
    ("event", "イベント", "Events", False, "市のイベント、講座"),
    ("gomi", "ごみ・リサイクル", "Waste and recycling", False, "収集日の変更、粗大ごみ"),
)

# slug, name, event, kind, subject, body, subject_en, body_en, topic slugs
TEMPLATES: tuple[tuple[str, str, str, str, str, str, str, str, tuple[str, ...]], ...] = (
    (
        "evacuation-issued",
        "避難情報の発令",
        "evacuation.issued",
        TemplateKind.EMERGENCY,
        "【警戒レベル((警戒レベル))】((避難情報))（((災害種別))）",
        "((日時))、((地域))に【警戒レベル((警戒レベル))】((避難情報))を発令しました。\n"
        "対象の地域の方は、危険な場所から直ちに避難してください。"
        "避難所の開設状況は市のホームページでご確認ください。\n((補足))",
        "[Level ((警戒レベル))] ((evacuation_en)) (((hazard_en)))",
        "At ((日時)) the city issued [Level ((警戒レベル))] ((evacuation_en)) for ((地域)).\n"
        "If you are in these areas, leave dangerous places now. "
        "See the city's website for open shelters.",
        ("disaster",),
    ),
    (
        "evacuation-lifted",
        "避難情報の解除",
        "evacuation.lifted",
        TemplateKind.EMERGENCY,
        "【解除】((避難情報))（((災害種別))）",
        "((日時))、((地域))の((避難情報))（((災害種別))）を解除しました。\n"
        "引き続き気象情報にご注意ください。",
        "[Lifted] ((evacuation_en)) (((hazard_en)))",
        "At ((日時)) the city lifted ((evacuation_en)) for ((地域)). "
        "Please keep following the weather information.",
        ("disaster",),
    ),
    (
        "shelter-opened",
        "避難所の開設",
        "shelter.opened",
        TemplateKind.EMERGENCY,
        "【避難所開設】((避難所))",
        "((日時))、((避難所))（((住所))）を避難所として開設しました（((災害名))）。\n"
        "避難の際は、飲料水・常備薬・マスクなどをお持ちください。",
        "[Shelter open] ((避難所_en))",
        "At ((日時)) the city opened ((避難所_en)) (((住所))) as a shelter. "
        "Bring drinking water, your medicine and a mask.",
        ("disaster",),
    ),
    (
        "disaster-declared",
        "災害対策本部の設置",
        "disaster.declared",
        TemplateKind.EMERGENCY,
        "【災害情報】((災害名))",
        "((日時))、((災害名))（((災害種別))）のため、市は災害対策本部を設置しました。\n"
        "対象地域: ((地域))\n今後の避難情報にご注意ください。",
        "[Disaster] ((災害名))",
        "At ((日時)) the city set up its disaster headquarters (((災害名))). "
        "Areas: ((地域)). Watch for evacuation information.",
        ("disaster",),
    ),
    (
        "disaster-ended",
        "災害対応の終了",
        "disaster.ended",
        TemplateKind.EMERGENCY,
        "【災害情報】((災害名))の対応を終了しました",
        "((日時))、((災害名))に係る災害対策本部を廃止しました。ご協力ありがとうございました。",
        "[Disaster] Response to ((災害名)) ended",
        "At ((日時)) the city closed its disaster headquarters. Thank you for your cooperation.",
        ("disaster",),
    ),
    (
        "event",
        "イベントのお知らせ",
        "",
        TemplateKind.NORMAL,
        "【イベント】((イベント名))",
        "((イベント名))を開催します。\n日時: ((日時))\n場所: ((場所))\n((詳細))",
        "[Event] ((イベント名))",
        "((イベント名)) will be held.\nWhen: ((日時))\nWhere: ((場所))",
        ("event",),
    ),
    (
        "gomi-change",
        "ごみ収集日の変更",
        "",
        TemplateKind.NORMAL,
        "【ごみ】((期間))の収集日の変更",
        "((期間))は収集日が変わります。\n((詳細))",
        "[Waste] Collection days change ((期間))",
        "Collection days change ((期間)).",
        ("gomi",),
    ),
)

DEMO_SUBSCRIBERS = 300
LINE_DEMO_USERS = 40
# What settings.py gives LINE in demo mode (`machi demo` sets MACHI_DEMO=1 only for the
# processes it starts, so the command itself reads the plain defaults).
DEMO_LINE_TOKEN = "demo-line-channel-token"  # noqa: S105 - the demo's fake, not a secret
DEMO_LINE_URL = "http://127.0.0.1:8027"


def topics_load() -> list[Topic]:
    found = []
    for position, (slug, name, name_en, emergency, description) in enumerate(TOPICS):
        topic, _ = Topic.objects.update_or_create(
            slug=slug,
            defaults={
                "name": name,
                "name_en": name_en,
                "emergency": emergency,
                "description": description,
                "position": position,
            },
        )
        found.append(topic)
    return found


def templates_load() -> list[Template]:
    topics = {t.slug: t for t in Topic.objects.all()}
    made = []
    for slug, name, event, kind, subject, body, subject_en, body_en, topic_slugs in TEMPLATES:
        template, created = Template.objects.get_or_create(
            slug=slug,
            defaults={
                "name": name,
                "event": event,
                "kind": kind,
                "subject": subject,
                "body": body,
                "subject_en": subject_en,
                "body_en": body_en,
            },
        )
        if created:
            template.topics.set([topics[s] for s in topic_slugs if s in topics])
        made.append(template)
    return made


def _line_user(n: int) -> str:
    return "U" + hashlib.sha256(f"machi-demo-line-{n}".encode()).hexdigest()[:32]


def subscribers_load(count: int = DEMO_SUBSCRIBERS, line_users: int = LINE_DEMO_USERS) -> int:
    """Made-up residents: e-mail subscribers in random areas, and a few LINE friends."""
    rng = random.Random(20191012)  # noqa: S311 - made-up demo data; Hagibis came 2019-10-12
    topics = list(Topic.objects.all())
    areas = list(Area.objects.order_by("pk"))
    now = timezone.now()
    made = 0
    with transaction.atomic():
        for n in range(count):
            address = f"resident{n:04d}@example.jp"
            key = services.address_key(Channel.EMAIL, address)
            subscriber, created = Subscriber.objects.get_or_create(
                address_key=key,
                defaults={
                    "channel": Channel.EMAIL,
                    "address": address,
                    "status": SubscriberStatus.ACTIVE,
                    "language": "en" if n % 10 == 0 else "ja",
                    "emergency_only": n % 7 == 0,
                    "confirmed_at": now,
                    "source": "demo",
                },
            )
            if created:
                subscriber.topics.set(rng.sample(topics, k=rng.randint(1, min(4, len(topics)))))
                if areas and n % 3:
                    subscriber.areas.set(rng.sample(areas, k=min(len(areas), rng.randint(1, 2))))
                made += 1
        if line_users:
            for n in range(line_users):
                user = _line_user(n)
                subscriber, created = Subscriber.objects.get_or_create(
                    address_key=services.address_key(Channel.LINE, user),
                    defaults={
                        "channel": Channel.LINE,
                        "address": user,
                        "status": SubscriberStatus.ACTIVE,
                        "confirmed_at": now,
                        "source": "demo",
                    },
                )
                if created:
                    subscriber.topics.set(services.default_topics())
                    made += 1
    return made


def load_demo_notify(**_: Any) -> str:
    topics = topics_load()
    templates = templates_load()
    made = subscribers_load()
    total = Subscriber.objects.filter(status=SubscriberStatus.ACTIVE).count()
    return (
        f"notifications: {len(topics)} topics, {len(templates)} templates, "
        f"{total} subscribers ({made} new); mail arrives at the local SMTP sink "
        f"(port {settings.MACHI_NOTIFY_SINK_PORT}), shown at /console/notify/mailbox/"
    )


def demo_processes(url: str) -> dict[str, list[str]]:
    """The local SMTP sink (what the city's mail server would be) and a fake LINE platform."""
    from machi.core.management import processes

    found = {
        "mail-sink": [
            *processes.machi_args(),
            "notify_sink",
            "--port",
            str(settings.MACHI_NOTIFY_SINK_PORT),
            "--dir",
            str(settings.DATA_DIR / "mailsink"),
        ]
    }
    configured = bool(settings.MACHI_LINE_CHANNEL_TOKEN)
    token = settings.MACHI_LINE_CHANNEL_TOKEN if configured else DEMO_LINE_TOKEN
    line = settings.MACHI_LINE_API_URL if configured else DEMO_LINE_URL
    if line.startswith("http://127.0.0.1:"):
        port = line.rsplit(":", 1)[1].strip("/")
        found["line-fake"] = [
            sys.executable,
            "-m",
            "machi.notify.peers.line_api",
            "--port",
            port,
            "--token",
            token,
        ]
    return found
