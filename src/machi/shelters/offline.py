"""The offline shelter console (オフライン受付): replaying what a shelter's device recorded while
the server was out of reach.

Toda's business-continuity plan asks that shelter work go on when the city's own data centre
cannot be used. The device keeps each operation in its browser (IndexedDB) with ids it made
itself, and sends them when the connection returns, in the order they were made. Here they are
applied, each on its own:

- every operation is idempotent: a check-in's id is the client's, a person registered with a
  check-in is found again through that check-in, a check-out already made by this operation is
  recognised by its history line, needs are applied as "add these, remove those";
- times are the device's (when the person really arrived or left), kept between the opening of
  the shelter (or the start of the stay) and now, so a wrong tablet clock cannot write the
  future;
- conflicts are never settled here: a person present at two shelters is flagged on both stays
  (as any check-in does); a check-out of a stay that someone else ended meanwhile keeps the
  first end, flags the stay and tells HQ in the chronology.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field

from django.db import transaction
from django.utils import timezone

from machi.emergency import services as emergency_services
from machi.emergency.models import ChronologyKind
from machi.shelters import selectors, services
from machi.shelters.models import (
    Checkin,
    CheckinEvent,
    CheckinEventKind,
    CheckinSource,
    Need,
    Opening,
    Person,
)

logger = logging.getLogger(__name__)

REGISTER = "register"
CHECKIN_CODE = "checkin_code"
CHECKOUT = "checkout"
NEEDS = "needs"
KINDS = (REGISTER, CHECKIN_CODE, CHECKOUT, NEEDS)

DONE = "done"  # recorded (or recorded before: ``replayed``); the device forgets it
FAILED = "failed"  # can never be recorded as sent: the device shows it to staff
RETRY = "retry"  # not now (an error on our side, an earlier operation waiting): send again

TWO_SHELTERS = "two_shelters"  # the person is also present at another shelter
ALREADY_ENDED = "already_ended"  # the stay had been ended elsewhere before this check-out
DEVICE_PREFIX = "offline"


class OfflineError(ValueError):
    """An operation that cannot be recorded; ``field`` names the part at fault."""

    def __init__(self, message: str, *, field: str = "") -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class Operation:
    """One thing done on the device: what, on which stay, when."""

    id: uuid.UUID
    kind: str
    checkin_id: uuid.UUID
    at: dt.datetime
    person: services.PersonInput | None = None
    code: str = ""
    needs_added: Sequence[str] = ()
    needs_removed: Sequence[str] = ()
    device: str = ""


@dataclass(frozen=True)
class Outcome:
    id: uuid.UUID
    status: str
    replayed: bool = False
    conflict: str = ""
    checkin_ids: list[uuid.UUID] = field(default_factory=list)
    field: str = ""
    message: str = ""


def operations_apply(*, opening: Opening, operations: Sequence[Operation]) -> list[Outcome]:
    """Apply a device's operations at one opening, in order; one outcome per operation.

    Each operation is its own transaction: one that cannot be recorded does not hold back the
    others, except those on the same stay that come after it (a check-out of a registration
    that must be sent again waits for it).
    """
    outcomes: list[Outcome] = []
    waiting: set[uuid.UUID] = set()
    for operation in operations:
        if operation.checkin_id in waiting:
            outcomes.append(
                Outcome(operation.id, RETRY, message="waits for an earlier operation on this stay")
            )
            continue
        try:
            with transaction.atomic():
                outcome = _apply(opening, operation)
        except (OfflineError, services.ShelterError) as exc:
            outcome = Outcome(operation.id, FAILED, field=exc.field, message=str(exc))
        except Exception:
            # Our fault, not the device's: it keeps the operation and sends it again.
            logger.exception("offline operation %s (%s) failed", operation.id, operation.kind)
            outcome = Outcome(operation.id, RETRY, message="the server could not record it now")
        if outcome.status != DONE:
            waiting.add(operation.checkin_id)
        outcomes.append(outcome)
    return outcomes


def _apply(opening: Opening, operation: Operation) -> Outcome:
    if operation.kind == REGISTER:
        return _register(opening, operation)
    if operation.kind == CHECKIN_CODE:
        return _checkin_code(opening, operation)
    if operation.kind == CHECKOUT:
        return _checkout(opening, operation)
    if operation.kind == NEEDS:
        return _needs(opening, operation)
    raise OfflineError(f"unknown operation {operation.kind!r}", field="kind")


def device_name(device: str) -> str:
    """What Checkin.device records: the device's own name, marked as the offline console's."""
    cleaned = "".join(ch for ch in device if ch.isalnum() or ch in "-_.")[:48]
    return f"{DEVICE_PREFIX}:{cleaned}" if cleaned else DEVICE_PREFIX


def _when(at: dt.datetime, *, not_before: dt.datetime | None) -> dt.datetime:
    """The device's time, kept within what can be true: not in the future, not before."""
    if timezone.is_naive(at):
        at = timezone.make_aware(at, dt.UTC)
    now = timezone.now()
    if not_before is not None and at < not_before:
        at = not_before
    return min(at, now)


def _register(opening: Opening, operation: Operation) -> Outcome:
    """A new person typed in offline, checked in here. A replay finds the person it made."""
    earlier = Checkin.objects.filter(pk=operation.checkin_id).first()
    if earlier is not None:
        return _replay(opening, operation, earlier)
    if operation.person is None:
        raise OfflineError("a registration needs the person", field="person")
    at = _when(operation.at, not_before=opening.opened_at)
    try:
        with transaction.atomic():  # a new person and their check-in, or neither
            household = services.household_register(
                members=[operation.person], disaster=opening.disaster
            )
            person = household.members.get()
            result = services.checkin_create(
                checkin_id=operation.checkin_id,
                person=person,
                disaster=opening.disaster,
                opening=opening,
                source=CheckinSource.STAFF,
                device=device_name(operation.device),
                at=at,
            )
    except services.ShelterError:
        # The same operation sent twice at once (two tabs, a retry racing its original): the
        # other one recorded the person and the stay.
        earlier = Checkin.objects.filter(pk=operation.checkin_id).first()
        if earlier is None:
            raise
        return _replay(opening, operation, earlier)
    return Outcome(operation.id, DONE, checkin_ids=[result.checkin.pk])


def _replay(opening: Opening, operation: Operation, earlier: Checkin) -> Outcome:
    if earlier.opening_id != opening.pk:
        raise OfflineError("this id belongs to another check-in", field="checkin_id")
    return Outcome(
        operation.id,
        DONE,
        replayed=True,
        conflict=TWO_SHELTERS if earlier.conflict else "",
        checkin_ids=[earlier.pk],
    )


def clean_code(value: str) -> str:
    """A registration code as typed or scanned (scanners may send the resident page's URL)."""
    return value.strip().rstrip("/").rsplit("/", 1)[-1]


def _checkin_code(opening: Opening, operation: Operation) -> Outcome:
    """A household that registered on a phone, checked in by its code.

    Each member's stay id is derived from the operation's stay id, as the check-in desk does
    (services.checkin_household), so a replay finds the same stays.
    """
    code = clean_code(operation.code)
    household = selectors.household_by_code(code) if code else None
    if household is None:
        raise OfflineError("no household has this code", field="code")
    members = list(household.members.order_by("created_at", "pk"))
    if not members:
        raise OfflineError("this registration has nobody in it", field="code")
    at = _when(operation.at, not_before=opening.opened_at)
    results = [
        services.checkin_create(
            checkin_id=services._member_checkin_id(operation.checkin_id, person),
            person=person,
            disaster=opening.disaster,
            opening=opening,
            source=CheckinSource.QR,
            device=device_name(operation.device),
            at=at,
        )
        for person in members
    ]
    created = [r.checkin for r in results if r.created]
    flagged = [r.checkin for r in results if r.checkin.conflict]
    if any(stay.conflict for stay in created):
        _tell_hq(
            opening,
            f"オフライン同期: 他の避難所にも滞在中の避難者を受付（要確認）: {opening.shelter}",
            record=created[0],
        )
    return Outcome(
        operation.id,
        DONE,
        replayed=not created,
        conflict=TWO_SHELTERS if flagged else "",
        checkin_ids=[r.checkin.pk for r in results],
    )


def _stay_here(opening: Opening, checkin_id: uuid.UUID) -> Checkin:
    stay = Checkin.objects.select_related("person").filter(pk=checkin_id).first()
    if stay is None or stay.opening_id != opening.pk:
        raise OfflineError("no such stay at this shelter", field="checkin_id")
    return stay


def _checkout(opening: Opening, operation: Operation) -> Outcome:
    """End a stay at the time the person left. A stay someone else ended meanwhile keeps its
    first end: the device's check-out is a conflict for HQ, told once."""
    stay = _stay_here(opening, operation.checkin_id)
    marker = f"{DEVICE_PREFIX} {operation.id}"
    was_open = stay.checked_out_at is None
    if was_open:
        services.checkout(
            checkin=stay, at=_when(operation.at, not_before=stay.checked_in_at), note=marker
        )
    mine = CheckinEvent.objects.filter(checkin=stay, kind=CheckinEventKind.OUT, note=marker)
    if mine.exists():
        return Outcome(
            operation.id,
            DONE,
            replayed=not was_open,
            checkin_ids=[stay.pk],
        )
    # Ended elsewhere (another desk, a transfer by HQ) before this device's check-out reached
    # us. The flag on the stay is also what makes a replay of this operation tell HQ once.
    if Checkin.objects.filter(pk=stay.pk, conflict=False).update(conflict=True):
        _tell_hq(
            opening,
            f"オフライン同期: 他で退所済みの滞在に退所の記録（要確認）: {opening.shelter}",
            record=stay,
        )
    return Outcome(operation.id, DONE, conflict=ALREADY_ENDED, checkin_ids=[stay.pk])


def _needs(opening: Opening, operation: Operation) -> Outcome:
    """要配慮 noted at the shelter: the needs added and removed on the device, applied to the
    person's record as it is now (a need recorded meanwhile by someone else stays)."""
    unknown = sorted((set(operation.needs_added) | set(operation.needs_removed)) - set(Need.values))
    if unknown:
        raise OfflineError(f"unknown needs: {', '.join(unknown)}", field="needs")
    stay = _stay_here(opening, operation.checkin_id)
    person = stay.person
    wanted = (set(person.needs) - set(operation.needs_removed)) | set(operation.needs_added)
    if wanted == set(person.needs):  # a replay, or someone noted the same meanwhile
        return Outcome(operation.id, DONE, replayed=True, checkin_ids=[stay.pk])
    services.person_update(person=person, data=_as_input(person, needs=sorted(wanted)))
    return Outcome(operation.id, DONE, checkin_ids=[stay.pk])


def _as_input(person: Person, *, needs: list[str]) -> services.PersonInput:
    return services.PersonInput(
        family_name=person.family_name,
        given_name=person.given_name,
        family_name_kana=person.family_name_kana,
        given_name_kana=person.given_name_kana,
        birth_date=person.birth_date,
        sex=person.sex,
        phone=person.phone,
        needs=needs,
        allergies=person.allergies,
        needs_note=person.needs_note,
        language=person.language,
        consent=person.consent,
    )


def _tell_hq(opening: Opening, text: str, *, record: Checkin) -> None:
    """An important line in the chronology, which HQ's dashboard shows. No names: the
    chronology is read more widely than the evacuee records."""
    emergency_services.chronology_record(
        kind=ChronologyKind.SHELTER,
        text=text,
        disaster=opening.disaster_id,
        record=record,
        important=True,
    )
