"""Reads of the shelters room: public status, dashboards, rosters, search."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from django.core.cache import cache
from django.db.models import Count, Exists, OuterRef, Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from machi.core import access, japanese, memo
from machi.core.roles import Action
from machi.emergency import selectors as emergency_selectors
from machi.emergency.models import Disaster
from machi.shelters.models import (
    Checkin,
    Household,
    Opening,
    OpeningStatus,
    Person,
    Shelter,
    SupplyRequest,
    SupplyStatus,
)

# Crowding levels on the public page: 空きあり below 80% of capacity, 混雑 from 80%, 満員 at
# 100% or when staff say so.
CROWDED_AT = 0.8
CROWDING = {"vacant": _("Space available"), "crowded": _("Crowded"), "full": _("Full")}
PRESENT = Q(checked_out_at__isnull=True)


def crowding(opening: Opening) -> str:
    if opening.status == OpeningStatus.FULL:
        return "full"
    if not opening.capacity:
        return "vacant"
    ratio = opening.occupancy / opening.capacity
    if ratio >= 1:
        return "full"
    return "crowded" if ratio >= CROWDED_AT else "vacant"


def opening_at(*, shelter_id: int, disaster: Disaster) -> Opening | None:
    """The opening of a shelter for a disaster, remembered a few seconds per process (every
    check-in asks). Its status may be that old: the check-in's own UPDATE is what decides."""
    return memo.remember(
        f"opening:{disaster.pk}:{shelter_id}",
        lambda: (
            Opening.objects.select_related("shelter")
            .filter(shelter_id=shelter_id, disaster=disaster)
            .first()
        ),
    )


def disaster_for(disaster_id: int | None) -> Disaster | None:
    if disaster_id is not None:
        return Disaster.objects.filter(pk=disaster_id).first()
    return emergency_selectors.disaster_current()


def openings_live(disaster: Disaster | None) -> QuerySet[Opening]:
    """Openings of the disaster that residents may go to (open or full)."""
    if disaster is None:
        return Opening.objects.none()
    return (
        Opening.objects.filter(
            disaster=disaster, status__in=[OpeningStatus.OPEN, OpeningStatus.FULL]
        )
        .select_related("shelter__facility")
        .order_by("shelter__facility__name_kana", "shelter__facility__name")
    )


@dataclass(frozen=True)
class PublicStatus:
    """What a resident's phone shows of an open shelter: no personal data at all."""

    shelter_id: int
    name: str
    address: str
    latitude: Any
    longitude: Any
    status: str
    crowding: str
    crowding_label: str
    updated_at: dt.datetime


def public_status(disaster: Disaster | None) -> list[PublicStatus]:
    result = []
    for opening in openings_live(disaster):
        level = crowding(opening)
        facility = opening.shelter.facility
        result.append(
            PublicStatus(
                shelter_id=opening.shelter_id,
                name=facility.name,
                address=facility.address,
                latitude=facility.latitude,
                longitude=facility.longitude,
                status=opening.status,
                crowding=level,
                crowding_label=str(CROWDING[level]),
                updated_at=opening.updated_at,
            )
        )
    return result


def shelters_with_openings(disaster: Disaster | None) -> list[tuple[Shelter, Opening | None]]:
    shelters = list(Shelter.objects.select_related("facility").order_by("facility__name_kana"))
    openings = {}
    if disaster is not None:
        openings = {o.shelter_id: o for o in Opening.objects.filter(disaster=disaster)}
    return [(shelter, openings.get(shelter.pk)) for shelter in shelters]


@dataclass(frozen=True)
class DashboardRow:
    opening: Opening
    needs: int
    conflicts: int
    open_requests: int

    @property
    def crowding(self) -> str:
        return crowding(self.opening)

    @property
    def status_label(self) -> str:
        return str(OpeningStatus(self.opening.status).label)

    @property
    def percent(self) -> int | None:
        if not self.opening.capacity:
            return None
        return round(self.opening.occupancy * 100 / self.opening.capacity)


@dataclass(frozen=True)
class Dashboard:
    disaster: Disaster
    rows: list[DashboardRow]
    present: int
    capacity: int
    needs: int
    conflicts: int
    open_requests: int
    elsewhere: dict[str, int]  # people staying at home, in cars… (not at a shelter)


def hq_dashboard(disaster: Disaster) -> Dashboard:
    """Every opening with its counts, in a fixed number of queries whatever the size."""
    openings = list(
        Opening.objects.filter(disaster=disaster)
        .exclude(status=OpeningStatus.CLOSED)
        .select_related("shelter__facility")
        .order_by("shelter__facility__name_kana", "shelter__facility__name")
    )
    present = Checkin.objects.filter(PRESENT, disaster=disaster, opening__isnull=False)
    counts = {
        row["opening_id"]: row
        for row in present.values("opening_id").annotate(
            needs=Count("id", filter=Q(needs_care=True)),
            conflicts=Count("id", filter=Q(conflict=True)),
        )
    }
    needs = {key: row["needs"] for key, row in counts.items() if row["needs"]}
    conflicts = {key: row["conflicts"] for key, row in counts.items() if row["conflicts"]}
    requests = dict(
        SupplyRequest.objects.filter(
            opening__disaster=disaster,
            status__in=[SupplyStatus.REQUESTED, SupplyStatus.APPROVED],
        )
        .values_list("opening_id")
        .annotate(n=Count("id"))
        .values_list("opening_id", "n")
    )
    elsewhere = dict(
        Checkin.objects.filter(PRESENT, disaster=disaster, opening__isnull=True)
        .values_list("stay_type")
        .annotate(n=Count("id"))
        .values_list("stay_type", "n")
    )
    rows = [
        DashboardRow(o, needs.get(o.pk, 0), conflicts.get(o.pk, 0), requests.get(o.pk, 0))
        for o in openings
    ]
    return Dashboard(
        disaster=disaster,
        rows=rows,
        present=sum(o.occupancy for o in openings),
        capacity=sum(o.capacity or 0 for o in openings),
        needs=sum(needs.values()),
        conflicts=sum(conflicts.values()),
        open_requests=sum(requests.values()),
        elsewhere=elsewhere,
    )


DASHBOARD_MAX_AGE = 2  # seconds


def dashboard_key(disaster_id: int) -> str:
    return f"shelters:dashboard:{disaster_id}"


def hq_dashboard_shared(disaster: Disaster) -> Dashboard:
    """The dashboard as every HQ screen shows it, computed at most once every two seconds.

    HQ keeps it open on many screens that refresh every five seconds (Toda had 171 HQ staff
    in 2019): they share one computation instead of each running the counts.
    """
    key = dashboard_key(disaster.pk)
    board = cache.get(key)
    if board is None:
        board = hq_dashboard(disaster)
        cache.set(key, board, DASHBOARD_MAX_AGE)
    return board


def openings_for(user: Any, disaster: Disaster | None) -> QuerySet[Opening]:
    """The openings a member of staff works with (shelter staff: only theirs)."""
    if disaster is None:
        return Opening.objects.none()
    return access.scope(
        user,
        Action.READ,
        Opening.objects.filter(disaster=disaster).select_related("shelter__facility"),
    )


def roster(user: Any, opening: Opening) -> QuerySet[Checkin]:
    """People present at a shelter, for those allowed to see them."""
    queryset = Checkin.objects.filter(PRESENT, opening=opening).select_related("person__household")
    return access.scope(user, Action.READ, queryset).order_by(
        "person__kana_key", "person__family_name"
    )


def persons_search(
    user: Any, *, query: str = "", birth_date: dt.date | None = None, limit: int = 50
) -> list[Person]:
    """Find people by name or reading (and birth date): those the user may see, and those
    registered but not staying anywhere yet (so shelter staff can check them in)."""
    if not query and birth_date is None:
        return []
    # Those staying where the user works now (not wherever they once were), and those
    # staying nowhere yet.
    here = access.scope(user, Action.READ, Checkin.objects.filter(PRESENT))
    staying = Checkin.objects.filter(PRESENT, person=OuterRef("pk"))
    queryset = Person.objects.filter(Q(pk__in=here.values("person_id")) | ~Exists(staying))
    if query:
        key = japanese.kana_key(query)
        text = japanese.normalize(query)
        queryset = queryset.filter(
            Q(kana_key__startswith=key)
            | Q(family_name__startswith=text)
            | Q(given_name__startswith=text)
        )
    if birth_date is not None:
        queryset = queryset.filter(birth_date=birth_date)
    return list(queryset.select_related("household").order_by("kana_key")[:limit])


def household_by_code(code: str) -> Household | None:
    return Household.objects.filter(code=code.strip()).prefetch_related("members").first()


@dataclass(frozen=True)
class DayNight:
    day: dt.date
    noon: int | None  # people present at 12:00 (None: not yet)
    midnight: int | None  # people present at 00:00 that night


def presence_by_day_night(opening: Opening, *, days: int = 7) -> list[DayNight]:
    """How many people were there by day (12:00) and by night (0:00), day by day.

    Noto 2024 showed both matter: people slept in cars and came to the shelter by day.
    """
    stays = list(
        Checkin.objects.filter(opening=opening).values_list("checked_in_at", "checked_out_at")
    )
    now = timezone.now()
    first = timezone.localdate(opening.opened_at or opening.disaster.started_at)
    today = timezone.localdate(now)
    start = max(first, today - dt.timedelta(days=days - 1))

    def present(at: dt.datetime) -> int | None:
        if at > now:
            return None
        return sum(1 for came, left in stays if came <= at and (left is None or left > at))

    result = []
    day = start
    while day <= today:
        noon = timezone.make_aware(dt.datetime.combine(day, dt.time(12)))
        midnight = timezone.make_aware(dt.datetime.combine(day + dt.timedelta(days=1), dt.time(0)))
        result.append(DayNight(day, present(noon), present(midnight)))
        day += dt.timedelta(days=1)
    return result


def may_check_in(user: Any, person: Person) -> bool:
    """Staff may check in someone they may already see, or someone staying nowhere yet (a
    resident who registered, or a new arrival). Never pull in another shelter's evacuee by id."""
    if access.reaches_all(user, Action.READ, Person):
        return True  # HQ: no query on the reception's hot path
    present = Checkin.objects.filter(PRESENT, person=person)
    if access.scope(user, Action.READ, present).exists():
        return True
    return not Checkin.objects.filter(PRESENT, person=person).exists()


def may_record_outside_shelters(user: Any) -> bool:
    """Stays at home, in a car or with relatives are city-wide records: HQ's."""
    return access.may(user, Action.READ, "shelters.dashboard")


def evacuees_matching(*, kana_key: str, birth_date: dt.date | None) -> list[Person]:
    """Evacuees with this reading (kana key) and birth date: for other rooms' ledgers, which
    keep only the link (never the health details of the shelter's record)."""
    if not kana_key or birth_date is None:
        return []
    return list(Person.objects.filter(kana_key=kana_key, birth_date=birth_date).order_by("pk"))
