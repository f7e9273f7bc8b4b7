"""Given the city's emergency templates, when HQ acts, the residents of the area hear of it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from machi.core.models import Area, User
from machi.emergency import services as emergency_services
from machi.emergency.models import ChronologyEntry, Disaster
from machi.notify import demo
from machi.notify.models import Broadcast, BroadcastStatus, Delivery, Subscriber, Topic
from machi.shelters import services as shelter_services
from machi.shelters.models import Shelter

pytestmark = pytest.mark.django_db


@pytest.fixture
def templates(db: Any) -> None:
    demo.topics_load()
    demo.templates_load()


@pytest.fixture(autouse=True)
def _test_channels(settings: Any) -> None:
    """The responders' broadcasts go through the engine with channels that send nothing."""
    quiet = "tests.notify.test_responders.Quiet"
    settings.MACHI_NOTIFY_CHANNEL_CLASSES = dict.fromkeys(("email", "webpush", "line"), quiet)


class Quiet:
    name = "quiet"

    async def open(self) -> None:
        return None

    async def send(self, messages: list[Any]) -> list[Any]:
        from machi.notify.channels.base import Result

        SENT.extend(messages)
        return [Result(m.delivery_id, "delivered") for m in messages]

    async def close(self) -> None:
        return None


SENT: list[Any] = []


@pytest.fixture(autouse=True)
def _clear() -> None:
    SENT.clear()


def test_an_evacuation_order_reaches_every_subscriber_of_its_areas_once(
    templates: None,
    hq: User,
    town: list[Area],
    subscribe: Callable[..., Subscriber],
    django_capture_on_commit_callbacks: Any,
) -> None:
    upper, lower = town
    gomi = Topic.objects.get(slug="gomi")
    in_upper = subscribe(topics=[gomi], areas=[upper])  # level 4: whatever their topics
    citywide = subscribe(topics=[gomi], language="en")
    subscribe(topics=[gomi], areas=[lower])  # another area

    with django_capture_on_commit_callbacks(execute=True):
        order = emergency_services.evacuation_issue(
            level=4, hazard="flood", areas=[upper], issued_by=hq
        )

    broadcast = Broadcast.objects.get(origin__startswith=f"evacuation:{order.pk}:issued")
    assert broadcast.status == BroadcastStatus.SENT
    assert broadcast.everyone
    assert broadcast.emergency
    assert broadcast.subject == "【警戒レベル4】避難指示（洪水）"
    assert "上戸田" in broadcast.body
    assert {m.address for m in SENT} == {in_upper.address, citywide.address}
    english = next(m for m in SENT if m.address == citywide.address)
    assert english.subject == "[Level 4] Evacuation order (flood)"
    assert ChronologyEntry.objects.filter(text__contains="登録者へ配信開始").exists()

    # A retried responder finds its broadcast and sends nothing more.
    from machi.notify import responders

    outcome = responders.order(order, "issued", [upper])
    assert outcome.summary.startswith("already sent")
    assert Delivery.objects.count() == 2 == len(SENT)


def test_level_3_reaches_only_those_who_chose_disaster_information(
    templates: None,
    hq: User,
    town: list[Area],
    subscribe: Callable[..., Subscriber],
    django_capture_on_commit_callbacks: Any,
) -> None:
    disaster = Topic.objects.get(slug="disaster")
    wanted = subscribe(topics=[disaster])
    tier = subscribe(emergency_only=True)
    subscribe(topics=[Topic.objects.get(slug="gomi")])
    with django_capture_on_commit_callbacks(execute=True):
        order = emergency_services.evacuation_issue(
            level=3, hazard="flood", areas=town, issued_by=hq
        )
    assert {m.address for m in SENT} == {wanted.address, tier.address}
    SENT.clear()
    with django_capture_on_commit_callbacks(execute=True):
        emergency_services.evacuation_lift(order=order, lifted_by=hq, areas=[town[0]])
    lifted = Broadcast.objects.get(origin__startswith=f"evacuation:{order.pk}:lifted")
    assert lifted.subject.startswith("【解除】")
    assert "上戸田" in lifted.body
    assert list(lifted.areas.all()) == [town[0]]
    assert len(SENT) == 2


def test_an_exercise_is_marked_as_a_drill(
    templates: None,
    hq: User,
    subscribe: Callable[..., Subscriber],
    django_capture_on_commit_callbacks: Any,
) -> None:
    subscribe(topics=[Topic.objects.get(slug="disaster")])
    with django_capture_on_commit_callbacks(execute=True):
        emergency_services.disaster_declare(
            name="総合防災訓練", hazards=["earthquake"], declared_by=hq, is_exercise=True
        )
    broadcast = Broadcast.objects.get(origin__startswith="disaster:")
    assert broadcast.subject.startswith("【訓練】")
    assert broadcast.body.startswith("【訓練】")
    assert [m.subject for m in SENT] == [broadcast.subject]


def test_a_shelter_opening_is_announced(
    templates: None,
    typhoon: Disaster,
    shelters: list[Shelter],
    subscribe: Callable[..., Subscriber],
    django_capture_on_commit_callbacks: Any,
) -> None:
    resident = subscribe(topics=[Topic.objects.get(slug="disaster")])
    SENT.clear()  # the declaration's own message
    with django_capture_on_commit_callbacks(execute=True):
        shelter_services.opening_open(shelter=shelters[0], disaster=typhoon)
    broadcast = Broadcast.objects.get(origin__startswith="opening:")
    assert shelters[0].facility.name in broadcast.subject
    assert [m.address for m in SENT] == [resident.address]
    # Opening it again (it is already open) announces nothing new.
    with django_capture_on_commit_callbacks(execute=True):
        shelter_services.opening_open(shelter=shelters[0], disaster=typhoon)
    assert Broadcast.objects.filter(origin__startswith="opening:").count() == 1


def test_without_a_template_nothing_is_sent_and_hq_is_told(
    hq: User, subscribe: Callable[..., Subscriber], django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        emergency_services.disaster_declare(name="地震", hazards=["earthquake"], declared_by=hq)
    assert not Broadcast.objects.exists()
    assert ChronologyEntry.objects.filter(text__contains="nothing sent").exists()
