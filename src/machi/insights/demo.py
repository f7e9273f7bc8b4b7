"""A past year for the demo city, so the insights page has something to say.

Written only by `machi demo` (never in a real installation): applications over the last twelve
months (more online as the year goes on, some at night and at weekends), questions to the FAQ
assistant with residents' feedback, a few broadcasts with their deliveries, and a typhoon two
months ago with two shelters, their evacuees' stays and the Wi-Fi devices seen there. Numbers
are drawn from a seeded generator: every demo shows the same figures.
"""

from __future__ import annotations

import datetime as dt
import random
import uuid
from typing import Any

DEMO_SEED = 2019
APPLICATIONS = 2400
QUESTIONS = 600
BROADCASTS = 6
DELIVERIES = 1500
EVACUEES = 420


def _when(rng: random.Random, now: dt.datetime, days: int) -> dt.datetime:
    """A moment in the last ``days`` days, mostly in office hours as people live."""
    day = now - dt.timedelta(days=rng.randint(0, days - 1))
    hour = rng.choices(range(24), weights=[1, 1, 1, 1, 1, 2, 4, 8, 12, 14, 14, 12, 10, 12,
                                           12, 11, 9, 8, 9, 10, 10, 8, 5, 2])[0]  # fmt: skip
    return day.replace(hour=hour, minute=rng.randint(0, 59), second=rng.randint(0, 59))


def _applications(rng: random.Random, now: dt.datetime) -> int:
    from machi.procedures.models import Application, Procedure
    from machi.procedures.services import new_reference, out_of_hours

    procedures = list(Procedure.objects.filter(active=True))
    if not procedures:
        return 0
    rows = []
    for n in range(APPLICATIONS):
        procedure = rng.choice(procedures)
        at = _when(rng, now, 365)
        # Online use grows through the year, from about half to about three quarters.
        online = rng.random() < 0.5 + 0.25 * (1 - (now - at).days / 365)
        if not online:  # the counter is open on weekdays only, 8:30 to 17:15
            while at.weekday() >= 5:
                at -= dt.timedelta(days=1)
            at = at.replace(hour=rng.randint(9, 16))
        rows.append(
            Application(
                id=uuid.uuid4(),
                reference=new_reference(),
                procedure=procedure,
                applicant_name=f"デモ 申請者{n}",
                answers={},
                delivery=rng.choice(procedure.deliveries),
                fee_yen=procedure.fee_yen,
                channel="online" if online else "counter",
                submitted_at=at,
                out_of_hours=out_of_hours(at),
                status="issued" if (now - at).days > 14 else "received",
                department=procedure.department,
                due_on=(at + dt.timedelta(days=procedure.target_days)).date(),
            )
        )
    Application.objects.bulk_create(rows, batch_size=1000)
    return len(rows)


def _questions(rng: random.Random, now: dt.datetime) -> int:
    from machi.guide.models import Feedback, Question

    asked = []
    for n in range(QUESTIONS):
        confidence = min(1.0, max(0.0, rng.gauss(0.7, 0.2)))
        feedback = rng.choices(
            [Feedback.NONE, Feedback.RESOLVED, Feedback.UNRESOLVED], weights=[70, 22, 8]
        )[0]
        asked.append(
            Question(
                text=f"デモの質問 {n}",
                asked_at=_when(rng, now, 365),
                confidence=confidence,
                low_confidence=confidence < 0.35,
                feedback=feedback,
            )
        )
    Question.objects.bulk_create(asked, batch_size=1000)
    return len(asked)


def _broadcasts(rng: random.Random, now: dt.datetime) -> int:
    from machi.notify.models import Broadcast, BroadcastStatus, Delivery, DeliveryStatus

    subjects = [
        "粗大ごみの受付日の変更",
        "防災訓練のお知らせ",
        "大雨への備え",
        "台風接近に伴う避難所の開設",
        "健康診断のご案内",
        "図書館の臨時休館",
    ]
    for b, subject in enumerate(subjects[:BROADCASTS]):
        started = now - dt.timedelta(days=20 + 55 * b, hours=rng.randint(0, 8))
        broadcast = Broadcast.objects.create(
            subject=subject,
            body="（デモ）",
            channels=["email", "webpush", "line"],
            status=BroadcastStatus.SENT,
            started_at=started,
            emergency="避難所" in subject,
        )
        Delivery.objects.bulk_create(
            Delivery(
                broadcast=broadcast,
                channel=rng.choices(["email", "webpush", "line"], weights=[5, 2, 3])[0],
                status=(
                    DeliveryStatus.DELIVERED
                    if rng.random() < 0.96
                    else DeliveryStatus.PERMANENT_FAILURE
                ),
                sent_at=started + dt.timedelta(seconds=rng.expovariate(1 / 25)),
            )
            for _ in range(DELIVERIES)
        )
    return BROADCASTS


def _typhoon(rng: random.Random, now: dt.datetime) -> str:
    from machi.emergency.models import Disaster
    from machi.shelters.models import Checkin, Household, Opening, OpeningStatus, Person, Shelter
    from machi.wifi.models import ClientSeen

    shelters = list(
        Shelter.objects.filter(facility__wifi_site__isnull=False).select_related(
            "facility__wifi_site"
        )[:2]
    )
    if not shelters:
        return "no shelter with Wi-Fi"
    start = (now - dt.timedelta(days=62)).replace(hour=15, minute=0, second=0, microsecond=0)
    disaster = Disaster.objects.create(
        name="令和8年台風第14号（デモ）",
        hazards=["flood", "inland_flood"],
        started_at=start,
        ended_at=start + dt.timedelta(days=3),
    )
    stays, seen = [], []
    for index, shelter in enumerate(shelters):
        opening = Opening.objects.create(
            shelter=shelter,
            disaster=disaster,
            status=OpeningStatus.CLOSED,
            opened_at=start,
            closed_at=start + dt.timedelta(days=3),
        )
        household = Household.objects.create(code=f"demo-typhoon-{index}", disaster=disaster)
        for n in range(EVACUEES // len(shelters)):
            came = start + dt.timedelta(minutes=rng.randint(0, 60 * 18))
            person = Person.objects.create(household=household, family_name=f"デモ{n}")
            stays.append(
                Checkin(
                    id=uuid.uuid4(),
                    person=person,
                    disaster=disaster,
                    opening=opening,
                    checked_in_at=came,
                    checked_out_at=came + dt.timedelta(hours=rng.randint(6, 60)),
                )
            )
        site = shelter.facility.wifi_site
        for hour in range(72):
            moment = start + dt.timedelta(hours=hour)
            # About 45% of the evacuees present bring a device onto 00000JAPAN (Toda, 2019).
            devices = int(EVACUEES / len(shelters) * 0.45 * min(1.0, hour / 12 + 0.2))
            seen += [
                ClientSeen(site=site, hour=moment, client=f"demo{index}-{c}")
                for c in range(devices)
            ]
    Checkin.objects.bulk_create(stays, batch_size=1000)
    ClientSeen.objects.bulk_create(seen, batch_size=2000)
    return disaster.name


def load_demo_insights(**_: Any) -> str:
    from django.db import transaction
    from django.utils import timezone

    rng = random.Random(DEMO_SEED)  # noqa: S311 - demo numbers, not secrets
    now = timezone.localtime()
    with transaction.atomic():
        applications = _applications(rng, now)
        questions = _questions(rng, now)
        broadcasts = _broadcasts(rng, now)
        typhoon = _typhoon(rng, now)
    return (
        f"insights: a past year for the figures ({applications} applications, {questions} "
        f"questions, {broadcasts} broadcasts, {typhoon}); see /console/insights/"
    )
