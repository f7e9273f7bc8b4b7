"""Writes of the shelters room: openings, evacuee registration, check-in and check-out."""

from __future__ import annotations

import datetime as dt
import secrets
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db import IntegrityError, connection, transaction
from django.db.models import F, Q
from django.utils import timezone

from machi.core import context, fastsql, japanese, memo
from machi.core import services as core_services
from machi.core.roles import Action
from machi.emergency import services as emergency_services
from machi.emergency.models import ChronologyKind, Disaster
from machi.shelters import selectors
from machi.shelters.models import (
    CONSENT_ITEMS,
    STAYS_AT_A_SHELTER,
    Allergen,
    Checkin,
    CheckinEvent,
    CheckinEventKind,
    CheckinSource,
    Household,
    Need,
    Opening,
    OpeningEvent,
    OpeningStatus,
    Person,
    Sex,
    Shelter,
    StayType,
    SupplyCategory,
    SupplyRequest,
    SupplyStatus,
)

AUTO_FULL = "capacity reached"


class ShelterError(ValueError):
    """An operation that cannot be done; the message says why (and ``field`` where)."""

    def __init__(self, message: str, *, field: str = "") -> None:
        super().__init__(message)
        self.field = field


def _actor() -> str:
    user = context.current().user
    return user.get_username() if user is not None and user.is_authenticated else ""


# --- Openings (開設) --------------------------------------------------------------------------


_CHRONOLOGY_WORDS = {
    OpeningStatus.PREPARING: "開設準備",
    OpeningStatus.OPEN: "開設",
    OpeningStatus.FULL: "満員",
    OpeningStatus.CLOSED: "閉鎖",
}


def _event(opening: Opening, status: str, note: str = "") -> None:
    OpeningEvent.objects.create(opening=opening, status=status, actor=_actor(), note=note)
    name, disaster_id = (
        Opening.objects.filter(pk=opening.pk)
        .values_list("shelter__facility__name", "disaster_id")
        .get()
    )
    # The chronology shows HQ every opening, 満員 and closing in order with the rest.
    emergency_services.chronology_record(
        kind=ChronologyKind.SHELTER,
        text=f"避難所 {_CHRONOLOGY_WORDS.get(OpeningStatus(status), status)}: {name}"
        + (f"（{note}）" if note else ""),
        disaster=disaster_id,
        record=opening,
        important=status in {OpeningStatus.OPEN, OpeningStatus.FULL},
    )
    # HQ sees a status change at once, not after the dashboard's two-second sharing.
    transaction.on_commit(lambda: cache.delete(selectors.dashboard_key(opening.disaster_id)))
    transaction.on_commit(lambda: memo.forget("opening:"))


def shelters_suitable(disaster: Disaster) -> list[Shelter]:
    """Designated shelters that suit the disaster's hazards.

    A shelter with no hazard information (GSI's 指定避難所 list has none) is proposed too:
    HQ decides. A shelter marked for other hazards only is not.
    """
    hazards = set(disaster.hazards)
    shelters = Shelter.objects.select_related("facility").filter(facility__is_shelter=True)
    return [s for s in shelters if not s.hazards or hazards & set(s.hazards)]


@transaction.atomic
def openings_propose(*, disaster: Disaster) -> list[Opening]:
    """Prepare (開設準備) every suitable shelter; open them at once if the city says so."""
    status = (
        OpeningStatus.OPEN if settings.MACHI_SHELTERS_OPEN_ON_DECLARE else OpeningStatus.PREPARING
    )
    proposed = []
    for shelter in shelters_suitable(disaster):
        opening, created = Opening.objects.get_or_create(
            shelter=shelter,
            disaster=disaster,
            defaults={"status": status, "capacity": shelter.capacity},
        )
        if created:
            if status == OpeningStatus.OPEN:
                opening.opened_at = timezone.now()
                opening.save(update_fields=["opened_at"])
            _event(opening, status, note="proposed on declaration")
        proposed.append(opening)
    return proposed


@transaction.atomic
def opening_open(*, shelter: Shelter, disaster: Disaster) -> Opening:
    """Open a shelter for a disaster (HQ's confirmation, or a shelter opened by hand)."""
    if not Disaster.objects.filter(pk=disaster.pk, ended_at__isnull=True).exists():
        raise ShelterError(f"{disaster} has ended", field="disaster_id")  # asked afresh
    opening, _ = Opening.objects.select_for_update().get_or_create(
        shelter=shelter, disaster=disaster, defaults={"capacity": shelter.capacity}
    )
    if opening.status in {OpeningStatus.OPEN, OpeningStatus.FULL}:
        return opening
    opening.status = OpeningStatus.OPEN
    opening.opened_at = opening.opened_at or timezone.now()
    opening.closed_at = None
    opening.save(update_fields=["status", "opened_at", "closed_at", "updated_at"])
    _event(opening, OpeningStatus.OPEN)
    core_services.audit_record(action=Action.UPDATE, record=opening, detail={"status": "open"})
    _refresh_full(opening)
    _opening_dispatch(opening)
    return opening


def _opening_dispatch(opening: Opening) -> None:
    """After commit, the rooms that act on a shelter's opening (notifications) hear of it."""
    from functools import partial

    from machi.shelters import responders

    for path in responders.opening_responders():
        transaction.on_commit(partial(responders.run_opening_responder, opening.pk, path))


@transaction.atomic
def opening_close(*, opening: Opening, note: str = "") -> Opening:
    """Close a shelter. People still checked in stay recorded until they are checked out."""
    opening = Opening.objects.select_for_update().get(pk=opening.pk)
    if opening.status == OpeningStatus.CLOSED:
        return opening
    opening.status, opening.closed_at = OpeningStatus.CLOSED, timezone.now()
    opening.save(update_fields=["status", "closed_at", "updated_at"])
    _event(opening, OpeningStatus.CLOSED, note)
    core_services.audit_record(action=Action.UPDATE, record=opening, detail={"status": "closed"})
    return opening


@transaction.atomic
def opening_set_full(*, opening: Opening, full: bool) -> Opening:
    """Staff mark a shelter full (or not) by hand, whatever the count says."""
    wanted = OpeningStatus.FULL if full else OpeningStatus.OPEN
    current = {OpeningStatus.OPEN, OpeningStatus.FULL} - {wanted}
    if Opening.objects.filter(pk=opening.pk, status__in=current).update(status=wanted):
        _event(opening, wanted, note="by hand")
        core_services.audit_record(action=Action.UPDATE, record=opening, detail={"status": wanted})
    opening.refresh_from_db()
    return opening


def _mark_full(opening: Opening) -> None:
    """満員 when the count reaches capacity (race-free: one conditional UPDATE)."""
    at_capacity = Q(capacity__isnull=False, occupancy__gte=F("capacity"))
    if Opening.objects.filter(at_capacity, pk=opening.pk, status=OpeningStatus.OPEN).update(
        status=OpeningStatus.FULL
    ):
        _event(opening, OpeningStatus.FULL, note=AUTO_FULL)


def _unmark_full(opening: Opening) -> None:
    """Open again when the count drops below capacity, unless staff marked it full by hand."""
    below = Opening.objects.filter(pk=opening.pk, status=OpeningStatus.FULL).exclude(
        capacity__isnull=False, occupancy__gte=F("capacity")
    )
    last = OpeningEvent.objects.filter(opening_id=opening.pk).order_by("-at", "-id").first()
    if last is not None and last.note == AUTO_FULL and below.update(status=OpeningStatus.OPEN):
        _event(opening, OpeningStatus.OPEN, note="below capacity")


def _refresh_full(opening: Opening) -> None:
    _mark_full(opening)
    _unmark_full(opening)


def openings_close_for(*, disaster: Disaster) -> int:
    closed = 0
    for opening in Opening.objects.filter(disaster=disaster).exclude(status=OpeningStatus.CLOSED):
        opening_close(opening=opening, note="disaster ended")
        closed += 1
    return closed


# --- Registration (避難者登録) ------------------------------------------------------------------


@dataclass
class PersonInput:
    family_name: str
    given_name: str = ""
    family_name_kana: str = ""
    given_name_kana: str = ""
    birth_date: dt.date | None = None
    sex: str = ""
    phone: str = ""
    needs: Sequence[str] = ()
    allergies: Sequence[str] = ()
    needs_note: str = ""
    language: str = ""
    consent: dict[str, bool] = field(default_factory=dict)


def _clean_person(data: PersonInput, index: int | None) -> dict[str, Any]:
    where = f"members[{index}]." if index is not None else ""
    family = japanese.normalize(data.family_name)
    if not family:
        raise ShelterError("the family name is required", field=where + "family_name")
    if data.birth_date and data.birth_date > timezone.localdate():
        raise ShelterError("the date of birth is in the future", field=where + "birth_date")
    for name, values, allowed in (
        ("needs", data.needs, Need.values),
        ("allergies", data.allergies, Allergen.values),
    ):
        unknown = sorted(set(values) - set(allowed))
        if unknown:
            raise ShelterError(f"unknown {name}: {', '.join(unknown)}", field=where + name)
    if data.sex and data.sex not in Sex.values:
        raise ShelterError(f"unknown sex {data.sex!r}", field=where + "sex")
    unknown_consent = sorted(set(data.consent) - set(CONSENT_ITEMS))
    if unknown_consent:
        raise ShelterError(f"unknown consent items: {unknown_consent}", field=where + "consent")
    family_kana = japanese.to_katakana(japanese.normalize(data.family_name_kana))
    given_kana = japanese.to_katakana(japanese.normalize(data.given_name_kana))
    return {
        "family_name": family,
        "given_name": japanese.normalize(data.given_name),
        "family_name_kana": family_kana,
        "given_name_kana": given_kana,
        "kana_key": japanese.kana_key(family_kana + given_kana),
        "birth_date": data.birth_date,
        "sex": data.sex,
        "phone": japanese.normalize(data.phone),
        "needs": sorted(set(data.needs)),
        "allergies": sorted(set(data.allergies)),
        "needs_note": data.needs_note.strip()[:300],
        "language": data.language.strip()[:16],
        "consent": {item: bool(data.consent.get(item)) for item in CONSENT_ITEMS},
    }


@transaction.atomic
def person_update(*, person: Person, data: PersonInput) -> Person:
    """Correct or complete a person's record (a name misread, a need found at the shelter).

    The 要配慮 flag of their stays still open follows the new needs, so HQ's counts stay true;
    the audit event lists which fields changed (not their values: they may be health data).
    """
    values = _clean_person(data, None)
    locked = Person.objects.select_for_update().get(pk=person.pk)
    changed = [name for name, value in values.items() if getattr(locked, name) != value]
    if not changed:
        return locked
    for name in changed:
        setattr(locked, name, values[name])
    locked.save(update_fields=changed)
    if "needs" in changed:
        open_stays = Checkin.objects.filter(person=locked, checked_out_at__isnull=True)
        disasters = set(open_stays.values_list("disaster_id", flat=True))
        open_stays.update(needs_care=bool(locked.needs))
        for disaster_id in disasters:
            transaction.on_commit(
                lambda d=disaster_id: cache.delete(selectors.dashboard_key(d))  # type: ignore[misc]
            )
    core_services.audit_record(action=Action.UPDATE, record=locked, detail={"fields": changed})
    return locked


@transaction.atomic
def household_register(
    *,
    members: Sequence[PersonInput],
    disaster: Disaster | None,
    address: str = "",
    phone: str = "",
    pets: str = "",
    self_registered: bool = False,
) -> Household:
    """Register a household and its members; nothing is saved if any member is invalid."""
    if not members:
        raise ShelterError("register at least one person", field="members")
    cleaned = [_clean_person(member, index) for index, member in enumerate(members)]
    household = Household.objects.create(
        disaster=disaster,
        address=japanese.normalize(address),
        phone=japanese.normalize(phone),
        pets=pets.strip()[:200],
        code=secrets.token_urlsafe(12),
        self_registered=self_registered,
    )
    Person.objects.bulk_create(
        [Person(household=household, address=household.address, **values) for values in cleaned]
    )
    if not self_registered:
        core_services.audit_record(action=Action.CREATE, record=household)
    return household


# --- Check-in and check-out (入退所) -----------------------------------------------------------


@dataclass(frozen=True)
class CheckinResult:
    checkin: Checkin
    created: bool


def _member_checkin_id(checkin_id: uuid.UUID, person: Person) -> uuid.UUID:
    """One client id for a household check-in → a stable id per member (replay-safe)."""
    return uuid.uuid5(checkin_id, str(person.pk))


class PersonNotFound(ShelterError):
    """The person of a check-in does not exist."""


def checkin_create(
    *,
    checkin_id: uuid.UUID,
    person: Person | None = None,
    person_id: uuid.UUID | None = None,
    disaster: Disaster,
    opening: Opening | None,
    stay_type: str = StayType.SHELTER,
    source: str = CheckinSource.STAFF,
    device: str = "",
    at: dt.datetime | None = None,
) -> CheckinResult:
    """Record that a person (or the person of ``person_id``) stays somewhere.

    Replaying the same id returns the first record. The reads come before the transaction, so
    SQLite's write lock is held only for the writes; a replay racing its original is caught by
    the primary key.
    """
    if person is not None:
        person_id = person.pk
    if person_id is None:
        raise ShelterError("a check-in needs a person", field="person_id")
    needs, known = _whereabouts(checkin_id, person_id)
    if any(c.pk == checkin_id for c in known):
        return _replayed(checkin_id, person_id=person_id, opening=opening)
    stay = StayType(stay_type)
    if stay in STAYS_AT_A_SHELTER and opening is None:
        raise ShelterError("a stay at a shelter needs the shelter", field="shelter_id")
    if opening is not None:
        if opening.disaster_id != disaster.pk:
            raise ShelterError("the shelter is not open for this disaster", field="shelter_id")
        if opening.status not in {OpeningStatus.OPEN, OpeningStatus.FULL}:
            raise ShelterError("the shelter is not open", field="shelter_id")
    open_stays = [c for c in known if c.person_id == person_id and c.checked_out_at is None]
    if opening is not None:
        for current in open_stays:
            if current.opening_id == opening.pk:
                return CheckinResult(current, created=False)  # already here: nothing to do
    elsewhere = [s.pk for s in open_stays if s.opening_id is not None]
    # A stay outside shelters (home, car, relatives) is where the person was last known to
    # be: a new stay replaces it. Two shelters at once is different: that is flagged.
    outside = [s for s in open_stays if s.opening_id is None]
    checkin = Checkin(
        id=checkin_id,
        person_id=person_id,
        disaster_id=disaster.pk,
        opening=opening,
        stay_type=stay,
        source=CheckinSource(source),
        device=device[:64],
        recorded_by=_actor(),
        checked_in_at=at or timezone.now(),
        needs_care=bool(needs),
        # Present at two shelters at once: flag both stays for HQ (a duplicate or a move
        # nobody recorded), never silently pick one. In a car while at a shelter: the same.
        conflict=bool(elsewhere),
    )
    try:
        if (
            opening is not None
            and not elsewhere
            and not outside
            and connection.vendor == "postgresql"
            and not connection.in_atomic_block
        ):
            _write_checkin_one_statement(checkin, opening=opening)
        else:
            with transaction.atomic():
                _write_checkin(checkin, opening=opening, elsewhere=elsewhere, outside=outside)
    except IntegrityError:
        if Checkin.objects.filter(pk=checkin_id).exists():
            return _replayed(checkin_id, person_id=person_id, opening=opening)  # lost a race
        here = Checkin.objects.filter(
            person_id=person_id, opening=opening, checked_out_at__isnull=True
        ).first()
        if opening is not None and here is not None:
            return CheckinResult(here, created=False)  # two desks scanned the same person
        raise
    return CheckinResult(checkin, created=True)


def _whereabouts(checkin_id: uuid.UUID, person_id: uuid.UUID) -> tuple[Any, list[Checkin]]:
    """The person's needs, and the check-ins that matter: this id (a replay?) and the stays
    still open (where is the person now?). One query, written out: the ORM would spend longer
    building it than the database answering it. PersonNotFound if there is no such person.
    """
    person_table = Person._meta.db_table
    checkin_table = Checkin._meta.db_table
    uuid_field = Checkin._meta.pk
    needs_field = Person._meta.get_field("needs")
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT p.needs, c.id, c.person_id, c.opening_id, c.checked_out_at "  # noqa: S608
            f"FROM {person_table} p LEFT JOIN {checkin_table} c "
            "ON c.id = %s OR (c.person_id = p.id AND c.checked_out_at IS NULL) "
            "WHERE p.id = %s",
            [
                uuid_field.get_db_prep_value(checkin_id, connection),
                uuid_field.get_db_prep_value(person_id, connection),
            ],
        )
        rows = cursor.fetchall()
    if not rows:
        raise PersonNotFound("no person has this id", field="person_id")
    needs = needs_field.from_db_value(rows[0][0], None, connection)  # type: ignore[arg-type]
    known = [
        Checkin.from_db(
            "default",
            ["id", "person_id", "opening_id", "checked_out_at"],
            [
                uuid_field.to_python(row[1]),
                uuid_field.to_python(row[2]),
                row[3],
                _aware(row[4]),
            ],
        )
        for row in rows
        if row[1] is not None
    ]
    return needs, known


def _aware(value: Any) -> Any:
    """SQLite hands timestamps back as text; PostgreSQL as aware datetimes."""
    if isinstance(value, str):
        parsed = dt.datetime.fromisoformat(value)
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)
    return value


def _replayed(
    checkin_id: uuid.UUID, *, person_id: uuid.UUID, opening: Opening | None
) -> CheckinResult:
    existing = Checkin.objects.get(pk=checkin_id)
    same = existing.person_id == person_id and existing.opening_id == (
        opening.pk if opening else None
    )
    if not same:
        raise ShelterError("this id belongs to another check-in", field="id")
    return CheckinResult(existing, created=False)


def _write_checkin(
    checkin: Checkin,
    *,
    opening: Opening | None,
    elsewhere: list[uuid.UUID],
    outside: list[Checkin],
) -> None:
    """The writes of a check-in, with plain INSERTs (core.fastsql): it is the hottest path."""
    fastsql.insert(checkin)
    fastsql.insert(
        CheckinEvent(
            checkin=checkin,
            kind=CheckinEventKind.IN,
            actor=checkin.recorded_by,
            at=checkin.checked_in_at,
        )
    )
    for previous in outside:
        _close_stay(previous, when=checkin.checked_in_at, note="replaced by a new stay")
    if elsewhere:
        Checkin.objects.filter(pk__in=elsewhere).update(conflict=True)
    if opening is not None:
        _count_arrival(opening)
    core_services.audit_record(action=Action.CREATE, record=checkin)


def _write_checkin_one_statement(checkin: Checkin, *, opening: Opening) -> None:
    """PostgreSQL: the check-in, its history line, the count and the audit event in one
    statement (data-modifying CTEs), instead of a transaction of four statements.

    The inserts take their rows FROM the counter's UPDATE, so a shelter closed a moment ago
    records nothing (the UPDATE matches no row); a duplicate id fails the whole statement.
    """
    event = CheckinEvent(
        checkin_id=checkin.pk,
        kind=CheckinEventKind.IN,
        actor=checkin.recorded_by,
        at=checkin.checked_in_at,
    )
    audit = core_services.audit_event(action=Action.CREATE, record=checkin)
    parts: list[str] = []
    params: list[Any] = [opening.pk, OpeningStatus.OPEN.value, OpeningStatus.FULL.value]
    for name, source, obj in (("c", "o", checkin), ("e", "c", event), ("a", "c", audit)):
        table, columns, marks, values = fastsql.row(obj)
        returning = " RETURNING 1" if name == "c" else ""
        parts.append(
            f"{name} AS (INSERT INTO {table} ({columns}) "  # noqa: S608 - names from models
            f"SELECT {', '.join(marks)} FROM {source}{returning})"
        )
        params.extend(values)
    sql = (
        f"WITH o AS (UPDATE {Opening._meta.db_table} SET occupancy = occupancy + 1 "  # noqa: S608
        "WHERE id = %s AND status IN (%s, %s) RETURNING status, occupancy, capacity), "
        + ", ".join(parts)
        + " SELECT status, occupancy, capacity FROM o"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    if row is None:
        raise ShelterError("the shelter is not open", field="shelter_id")
    checkin._state.adding = False
    checkin._state.db = "default"
    status, occupancy, capacity = row
    if status == OpeningStatus.OPEN and capacity is not None and occupancy >= capacity:
        _mark_full(opening)


def _count_arrival(opening: Opening) -> None:
    """One more person, then 満員 if the count reached capacity.

    The UPDATE only touches an open (or full) shelter, so a shelter closed a moment ago takes
    no one, whatever the caller's copy of it says. Whether it became full is decided by the
    database (``_mark_full``'s conditional UPDATE), never by that copy.
    """
    table = Opening._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} SET occupancy = occupancy + 1 "  # noqa: S608 - no user input
            "WHERE id = %s AND status IN (%s, %s) RETURNING status, occupancy, capacity",
            [opening.pk, OpeningStatus.OPEN.value, OpeningStatus.FULL.value],
        )
        row = cursor.fetchone()
    if row is None:
        # Closed since the caller looked (this check is the one that counts): no check-in.
        raise ShelterError("the shelter is not open", field="shelter_id")
    status, occupancy, capacity = row
    if status == OpeningStatus.OPEN and capacity is not None and occupancy >= capacity:
        _mark_full(opening)


def checkin_household(
    *,
    checkin_id: uuid.UUID,
    household: Household,
    disaster: Disaster,
    opening: Opening | None,
    stay_type: str = StayType.SHELTER,
    source: str = CheckinSource.QR,
    device: str = "",
) -> list[CheckinResult]:
    with transaction.atomic():
        return [
            checkin_create(
                checkin_id=_member_checkin_id(checkin_id, person),
                person=person,
                disaster=disaster,
                opening=opening,
                stay_type=stay_type,
                source=source,
                device=device,
            )
            for person in household.members.order_by("created_at", "pk")
        ]


def _close_stay(checkin: Checkin, *, when: dt.datetime, note: str = "") -> bool:
    """End a stay once: the event, the counter, 満員 lifted. False if it had already ended."""
    if not Checkin.objects.filter(pk=checkin.pk, checked_out_at__isnull=True).update(
        checked_out_at=when
    ):
        return False
    CheckinEvent.objects.create(
        checkin=checkin, kind=CheckinEventKind.OUT, actor=_actor(), at=when, note=note
    )
    if checkin.opening_id is not None:
        Opening.objects.filter(pk=checkin.opening_id).update(occupancy=F("occupancy") - 1)
        _unmark_full(Opening(pk=checkin.opening_id))
    return True


@transaction.atomic
def checkout(*, checkin: Checkin, at: dt.datetime | None = None, note: str = "") -> Checkin:
    """End a stay. Checking out twice changes nothing."""
    if _close_stay(checkin, when=at or timezone.now(), note=note):
        core_services.audit_record(
            action=Action.UPDATE, record=checkin, detail={"checked_out": True}
        )
    checkin.refresh_from_db()
    return checkin


@transaction.atomic
def transfer(*, checkin: Checkin, to_opening: Opening, new_id: uuid.UUID) -> CheckinResult:
    """Move a person to another shelter: check out here, check in there, one history."""
    checkin = (
        Checkin.objects.select_for_update().select_related("person", "disaster").get(pk=checkin.pk)
    )
    if checkin.checked_out_at is not None or not _close_stay(
        checkin, when=timezone.now(), note=f"transfer to {to_opening.shelter}"
    ):
        raise ShelterError("this stay has already ended", field="checkin_id")
    core_services.audit_record(action=Action.UPDATE, record=checkin, detail={"transfer": True})
    CheckinEvent.objects.create(
        checkin=checkin, kind=CheckinEventKind.TRANSFER, actor=_actor(), note=str(new_id)
    )
    return checkin_create(
        checkin_id=new_id,
        person=checkin.person,
        disaster=checkin.disaster,
        opening=to_opening,
        stay_type=checkin.stay_type,
        source=CheckinSource.STAFF,
    )


def opening_recount(*, opening: Opening) -> int:
    """Recount the people present from the check-ins (repairs the counter if ever needed)."""
    present = Checkin.objects.filter(opening=opening, checked_out_at__isnull=True).count()
    Opening.objects.filter(pk=opening.pk).update(occupancy=present)
    _refresh_full(opening)
    return present


# --- Supplies (物資) ---------------------------------------------------------------------------


@transaction.atomic
def supply_request(
    *, opening: Opening, category: str, item: str, quantity: int, unit: str = "", note: str = ""
) -> SupplyRequest:
    if category not in SupplyCategory.values:
        raise ShelterError(f"unknown category {category!r}", field="category")
    if quantity <= 0:
        raise ShelterError("the quantity must be at least 1", field="quantity")
    if not item.strip():
        raise ShelterError("say what is needed", field="item")
    request = SupplyRequest.objects.create(
        opening=opening,
        category=category,
        item=item.strip()[:100],
        quantity=quantity,
        unit=unit.strip()[:16],
        note=note.strip()[:300],
        requested_by=_actor(),
    )
    core_services.audit_record(action=Action.CREATE, record=request)
    return request


SUPPLY_NEXT = {
    SupplyStatus.REQUESTED: {SupplyStatus.APPROVED, SupplyStatus.CANCELLED},
    SupplyStatus.APPROVED: {SupplyStatus.DELIVERED, SupplyStatus.CANCELLED},
}


@transaction.atomic
def supply_advance(*, request: SupplyRequest, status: str) -> SupplyRequest:
    """requested → approved → delivered (or cancelled); no step back, no skipping."""
    wanted = SupplyStatus(status)
    if wanted not in SUPPLY_NEXT.get(SupplyStatus(request.status), set()):
        raise ShelterError(f"a {request.status} request cannot become {wanted}", field="status")
    request.status = wanted
    now = timezone.now()
    if wanted == SupplyStatus.APPROVED:
        request.approved_at = now
    if wanted == SupplyStatus.DELIVERED:
        request.delivered_at = now
    request.save()
    core_services.audit_record(action=Action.UPDATE, record=request, detail={"status": wanted})
    return request
