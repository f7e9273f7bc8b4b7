"""Given a city whose rooms kept records in April 2026 (Japan time): applications, questions
to the FAQ assistant, broadcasts and their deliveries, a disaster with shelters and Wi-Fi."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from machi.core.models import Facility, Municipality, User
from machi.core.roles import Role
from machi.emergency.models import Disaster
from machi.guide.models import Feedback, Question
from machi.insights.period import Period
from machi.notify.models import Broadcast, BroadcastStatus, Delivery, DeliveryStatus
from machi.procedures import services as procedure_services
from machi.procedures.models import Application, Procedure
from machi.shelters.models import Checkin, Household, Opening, OpeningStatus, Person, Shelter
from machi.wifi.models import AccessPoint, ApHour, ClientSeen, Site
from tests.core.factories import FacilityFactory

JST = dt.timezone(dt.timedelta(hours=9))
APRIL = Period(dt.date(2026, 4, 1), dt.date(2026, 4, 30))


def jst(day: int, hour: int, minute: int = 0, *, month: int = 4) -> dt.datetime:
    return dt.datetime(2026, month, day, hour, minute, tzinfo=JST)


@pytest.fixture(autouse=True)
def _in_english(settings: Any) -> Iterator[None]:
    """These tests read the page in English (the msgids); the UI defaults to Japanese."""
    from django.utils import translation

    settings.LANGUAGE_CODE = "en"
    with translation.override("en"):
        yield


@pytest.fixture
def dx(make_staff: Callable[..., User]) -> User:
    return make_staff(Role.DX, username="dx")


def procedure(slug: str, name: str, *, position: int = 0) -> Procedure:
    return Procedure.objects.create(
        slug=slug,
        name=name,
        department="市民課",
        identity_level="email",
        deliveries=["mail", "counter"],
        form=[],
        position=position,
    )


def submit(
    target: Procedure, at: dt.datetime, *, channel: str = "online", delivery: str = "mail"
) -> Application:
    return procedure_services.application_submit(
        procedure=target,
        applicant=procedure_services.Applicant(name="戸田 太郎"),
        answers={},
        delivery=delivery,
        channel=channel,
        at=at,
    )


@pytest.fixture
def applications(db: Any) -> dict[str, Procedure]:
    """住民票: 4 applications in April, 3 online (one collected at the counter), 2 of them out
    of hours (a Saturday, a weekday evening). 印鑑登録証明書: 1 online on a public holiday
    (昭和の日). And two just outside April, which no figure counts."""
    juminhyo = procedure("juminhyo", "住民票の写し", position=1)
    inkan = procedure("inkan", "印鑑登録証明書", position=2)
    submit(juminhyo, jst(8, 10))  # Wednesday, office hours
    submit(juminhyo, jst(11, 10))  # Saturday
    submit(juminhyo, jst(8, 20), delivery="counter")  # Wednesday evening, collected in person
    submit(juminhyo, jst(9, 10), channel="counter", delivery="counter")  # Thursday, counter
    submit(inkan, jst(29, 10))  # 昭和の日
    submit(juminhyo, jst(31, 23, 59, month=3))  # the evening before the period
    submit(juminhyo, jst(1, 0, 0, month=5))  # the first minute after it
    return {"juminhyo": juminhyo, "inkan": inkan}


@pytest.fixture
def questions(db: Any) -> list[Question]:
    made = [
        Question.objects.create(text="q1", confidence=0.9, feedback=Feedback.RESOLVED),
        Question.objects.create(text="q2", confidence=0.8),
        Question.objects.create(text="q3", confidence=0.7, feedback=Feedback.UNRESOLVED),
        Question.objects.create(text="q4", confidence=0.1, low_confidence=True),
        Question.objects.create(text="q5", confidence=0.9),
    ]
    for question, at in zip(made, [jst(2, 9), jst(3, 9), jst(4, 9), jst(5, 9)], strict=False):
        Question.objects.filter(pk=question.pk).update(asked_at=at)
    Question.objects.filter(pk=made[4].pk).update(asked_at=jst(2, 9, month=5))
    return made


def _deliveries(broadcast: Broadcast, rows: list[tuple[str, str, int | None]]) -> None:
    assert broadcast.started_at is not None
    Delivery.objects.bulk_create(
        Delivery(
            broadcast=broadcast,
            channel=channel,
            status=status,
            sent_at=broadcast.started_at + dt.timedelta(seconds=after) if after else None,
        )
        for channel, status, after in rows
    )


@pytest.fixture
def broadcasts(db: Any) -> dict[str, Broadcast]:
    """Two broadcasts sent in April, a test broadcast (sends nothing) and one sent in May."""

    def sent(subject: str, at: dt.datetime, *, test: bool = False) -> Broadcast:
        return Broadcast.objects.create(
            subject=subject,
            body="…",
            channels=["email", "line"],
            status=BroadcastStatus.SENT,
            started_at=at,
            test=test,
        )

    ok, failed, waiting = (
        DeliveryStatus.DELIVERED,
        DeliveryStatus.PERMANENT_FAILURE,
        DeliveryStatus.CREATED,
    )
    alert = sent("避難指示", jst(10, 9))
    _deliveries(
        alert,
        [
            ("email", ok, 10),
            ("email", ok, 20),
            ("email", ok, 30),
            ("email", ok, 40),
            ("email", failed, 5),
            ("line", ok, 60),
            ("line", waiting, None),
        ],
    )
    news = sent("市報4月号", jst(20, 9))
    _deliveries(news, [("email", ok, second) for second in range(1, 11)])
    _deliveries(sent("訓練", jst(21, 9), test=True), [("email", ok, 1)] * 3)
    _deliveries(sent("5月", jst(1, 9, month=5)), [("email", ok, 1)] * 3)
    return {"alert": alert, "news": news}


def _person(name: str) -> Person:
    household = Household.objects.create(code=uuid.uuid4().hex[:16])
    return Person.objects.create(household=household, family_name=name)


def _stay(opening: Opening, came: dt.datetime, left: dt.datetime | None = None) -> Checkin:
    return Checkin.objects.create(
        id=uuid.uuid4(),
        person=_person("戸田"),
        disaster=opening.disaster,
        opening=opening,
        checked_in_at=came,
        checked_out_at=left,
    )


def _ap(site: Site, name: str) -> AccessPoint:
    return AccessPoint.objects.create(
        site=site,
        name=name,
        mac=f"02:00:00:00:00:{AccessPoint.objects.count():02x}",
        management_url="http://192.0.2.1/ubus",
        driver="openwrt",
    )


@pytest.fixture
def flood(facilities: list[Facility]) -> Disaster:
    """A flood from 12 to 14 April. Two shelters open; only the first has Wi-Fi. At the first,
    5 people arrive at 10:00, 2 leave at 12:00, 1 arrives at 13:00: at most 5 at once, 6 in
    all. Its site saw 2 devices at 10:00, 3 at 11:00 (and 9 at a site that is no shelter)."""
    disaster = Disaster.objects.create(
        name="令和8年4月大雨", started_at=jst(12, 0), ended_at=jst(14, 0)
    )
    shelters = [Shelter.objects.create(facility=f, capacity_night=100) for f in facilities[:2]]
    openings = [
        Opening.objects.create(
            shelter=s, disaster=disaster, status=OpeningStatus.OPEN, opened_at=jst(12, 1)
        )
        for s in shelters
    ]
    stays = [_stay(openings[0], jst(12, 10)) for _ in range(5)]
    for stay in stays[:2]:
        Checkin.objects.filter(pk=stay.pk).update(checked_out_at=jst(12, 12))
    _stay(openings[0], jst(12, 13))
    for _ in range(7):  # at the shelter without Wi-Fi: not compared with any device
        _stay(openings[1], jst(12, 10))
    site = Site.objects.create(facility=facilities[0])
    _ap(site, "gym-1")
    elsewhere = Site.objects.create(facility=facilities[2])
    for hour, clients in ((jst(12, 10), ["a", "b"]), (jst(12, 11), ["a", "b", "c"])):
        ClientSeen.objects.bulk_create(ClientSeen(site=site, hour=hour, client=c) for c in clients)
    ClientSeen.objects.bulk_create(
        ClientSeen(site=elsewhere, hour=jst(12, 11), client=str(n)) for n in range(9)
    )
    ClientSeen.objects.bulk_create(  # the day before the disaster
        ClientSeen(site=site, hour=jst(11, 11), client=str(n)) for n in range(20)
    )
    return disaster


@pytest.fixture
def old_storm(municipality: Municipality) -> Disaster:
    """A storm whose device hashes were purged: only the APs' hourly maxima are left (two APs
    of one site: 4 + 6 at 20:00, 5 + 2 at 21:00). 8 people at most at once."""
    disaster = Disaster.objects.create(
        name="令和8年4月暴風", started_at=jst(25, 18), ended_at=jst(26, 12), is_exercise=True
    )
    hall = FacilityFactory(municipality=municipality, is_shelter=True)
    shelter = Shelter.objects.create(facility=hall, capacity_night=100)
    opening = Opening.objects.create(shelter=shelter, disaster=disaster, status=OpeningStatus.OPEN)
    for _ in range(8):
        _stay(opening, jst(25, 19))
    site = Site.objects.create(facility=hall)
    first, second = _ap(site, "hall-1"), _ap(site, "hall-2")
    for ap, hour, clients in (
        (first, jst(25, 20), 4),
        (second, jst(25, 20), 6),
        (first, jst(25, 21), 5),
        (second, jst(25, 21), 2),
    ):
        ApHour.objects.create(ap=ap, hour=hour, max_clients=clients)
    return disaster
