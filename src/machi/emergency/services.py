"""Writes of the emergency room: declaring and ending disasters (災害対策本部)."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from functools import partial

from django.conf import settings
from django.db import models, transaction
from django.utils import timezone

from machi.core import context, memo
from machi.core import selectors as core_selectors
from machi.core import services as core_services
from machi.core.hazards import Hazard
from machi.core.models import Area, User
from machi.core.roles import Action
from machi.emergency import cap, responders, selectors
from machi.emergency.cap import MACHIAZA_ID, EvacuationArea
from machi.emergency.models import (
    CapMessage,
    ChronologyEntry,
    ChronologyKind,
    Disaster,
    EvacuationLevel,
    EvacuationOrder,
    ResponderEvent,
    ResponderRun,
)


class DisasterError(ValueError):
    """A declaration or an end that cannot be done; the message says why."""


@transaction.atomic
def disaster_declare(
    *,
    name: str,
    hazards: Sequence[Hazard | str],
    declared_by: User | None,
    areas: Sequence[Area] = (),
    started_at: dt.datetime | None = None,
    is_exercise: bool = False,
) -> Disaster:
    """Declare a disaster and set its responders going once the declaration is saved."""
    name = name.strip()
    if not name:
        raise DisasterError("a disaster needs a name")
    chosen = [Hazard(h).value for h in dict.fromkeys(hazards)]
    if not chosen:
        raise DisasterError("choose at least one hazard")
    disaster = Disaster.objects.create(
        name=name,
        hazards=chosen,
        started_at=started_at or timezone.now(),
        declared_by=declared_by,
        is_exercise=is_exercise,
    )
    disaster.areas.set(areas)
    core_services.audit_record(action=Action.CREATE, record=disaster, detail={"hazards": chosen})
    labels = "・".join(str(Hazard(h).label) for h in chosen)
    chronology_record(
        kind=ChronologyKind.DISASTER,
        text=f"災害対策本部設置: {disaster.name}（{labels}）",
        disaster=disaster,
        record=disaster,
        important=True,
        at=disaster.started_at,
    )
    _dispatch(disaster, ResponderEvent.DECLARED)
    return disaster


@transaction.atomic
def disaster_end(*, disaster: Disaster, ended_by: User | None) -> Disaster:
    locked = Disaster.objects.select_for_update().get(pk=disaster.pk)
    if locked.ended_at is not None:
        raise DisasterError(f"{locked.name} has already ended")
    locked.ended_at, locked.ended_by = timezone.now(), ended_by
    locked.save(update_fields=["ended_at", "ended_by"])
    core_services.audit_record(action=Action.UPDATE, record=locked, detail={"ended": True})
    chronology_record(
        kind=ChronologyKind.DISASTER,
        text=f"災害対策本部廃止: {locked.name}",
        disaster=locked,
        record=locked,
        important=True,
        at=locked.ended_at,
    )
    _dispatch(locked, ResponderEvent.ENDED)
    return locked


def _dispatch(disaster: Disaster, event: str) -> list[ResponderRun]:
    transaction.on_commit(lambda: memo.forget("disaster:"))
    runs = [
        ResponderRun.objects.get_or_create(disaster=disaster, responder=path, event=event)[0]
        for path in responders.configured()
    ]
    for run in runs:
        transaction.on_commit(partial(responders.run_responder, run.pk))
    return runs


def responder_retry(*, run: ResponderRun) -> ResponderRun:
    """Run a failed responder again (HQ's button)."""
    transaction.on_commit(partial(responders.run_responder, run.pk))
    return run


# --- Chronology (クロノロジー) ----------------------------------------------------------------


def chronology_record(
    *,
    kind: ChronologyKind | str,
    text: str,
    disaster: Disaster | int | None = None,
    record: models.Model | None = None,
    important: bool = False,
    at: dt.datetime | None = None,
    actor: str | None = None,
    department: str = "",
) -> ChronologyEntry:
    """Append one line to the timeline of a disaster (the current one unless given).

    Every room's services call this for what HQ should see in order: declarations, openings,
    避難情報, responders' outcomes, incidents, JMA warnings, entries typed by staff. Lines are
    never changed afterwards (database triggers); a correction is a new line.
    """
    text = " ".join(text.split())
    if not text:
        raise DisasterError("a chronology entry needs text")
    if actor is None:
        user = context.current().user
        actor = user.get_username() if user is not None and user.is_authenticated else ""
    if isinstance(disaster, int):
        disaster_id: int | None = disaster
    else:
        chosen = disaster or selectors.disaster_current()
        disaster_id = chosen.pk if chosen is not None else None
    return ChronologyEntry.objects.create(
        disaster_id=disaster_id,
        kind=ChronologyKind(kind),
        text=text[:1000],
        actor=actor,
        department=department[:64],
        important=important,
        at=at or timezone.now(),
        object_type=record._meta.label_lower if record is not None else "",
        object_id=str(record.pk) if record is not None else "",
    )


# --- 避難情報 (evacuation information) and their CAP alerts ---------------------------------------


def _cap_sender() -> str:
    municipality = core_selectors.municipality_current()
    code = municipality.lgcode if municipality is not None else "000000"
    return getattr(settings, "MACHI_CAP_SENDER", "") or f"machi.{code}.lg.jp"


def _cap_areas(order: EvacuationOrder, areas: Sequence[Area] | None = None) -> list[EvacuationArea]:
    """The CAP areas of an order: its 町字 (by 町字ID where known), or the whole municipality."""
    municipality = core_selectors.municipality_current()
    if order.whole_city or (areas is None and not order.areas.exists()):
        name = municipality.name if municipality is not None else "市内全域"
        code = municipality.lgcode if municipality is not None else ""
        return [EvacuationArea(f"{name}全域", code, None)]
    chosen = list(areas) if areas is not None else list(order.areas.all())
    result = []
    for area in chosen:
        if area.machiaza_id and municipality is not None:
            result.append(
                EvacuationArea(area.name, municipality.lgcode + area.machiaza_id, None, MACHIAZA_ID)
            )
        elif municipality is not None:
            result.append(EvacuationArea(area.name, municipality.lgcode, None))
        else:
            result.append(EvacuationArea(area.name, "", None))
    return result


def _publish(
    order: EvacuationOrder, *, msg_type: str, alert: cap.CapAlert, headline: str
) -> CapMessage:
    return CapMessage.objects.create(
        identifier=alert.identifier,
        order=order,
        msg_type=msg_type,
        sent=alert.sent,
        headline=headline[:300],
        document=cap.render_alert(alert).decode("utf-8"),
    )


def _identifier(order: EvacuationOrder, sequence: int) -> str:
    municipality = core_selectors.municipality_current()
    code = municipality.lgcode if municipality is not None else "000000"
    return f"JP-{code}-EVAC-{order.pk:06d}-{sequence:02d}"


def _city_names() -> tuple[str, str]:
    municipality = core_selectors.municipality_current()
    if municipality is None:
        return "市", "the city"
    return municipality.name, getattr(municipality, "name_en", "") or municipality.name


def _references(order: EvacuationOrder) -> list[tuple[str, str, dt.datetime]]:
    sender = _cap_sender()
    return [(sender, m.identifier, m.sent) for m in order.cap_messages.order_by("sent", "id")]


def _cap_status(order: EvacuationOrder) -> str:
    disaster = order.disaster
    return "Exercise" if disaster is not None and disaster.is_exercise else "Actual"


def _order_words(order: EvacuationOrder) -> str:
    label = EvacuationLevel(order.level).label
    return f"【警戒レベル{order.level}】{label}（{Hazard(order.hazard).label}）"


def _area_names(order: EvacuationOrder, areas: Sequence[Area] | None = None) -> str:
    if order.whole_city:
        return "市内全域"
    chosen = list(areas) if areas is not None else list(order.areas.all())
    return "、".join(a.name for a in chosen) or "市内全域"


@transaction.atomic
def evacuation_issue(
    *,
    level: int,
    hazard: Hazard | str,
    areas: Sequence[Area] = (),
    whole_city: bool = False,
    note: str = "",
    issued_by: User | None,
    disaster: Disaster | None = None,
) -> EvacuationOrder:
    """Issue 避難情報 for some areas (or the whole city) and one hazard, as HQ decided.

    An area holds one order per hazard: a new order for an area replaces the one in force
    (raised or lowered level), which is recorded as lifted for that area and superseded. The
    order is published as CAP (msgType Alert, or Update when it replaces earlier alerts),
    written to the chronology and handed to the order responders after commit.
    """
    if level not in EvacuationLevel.values:
        raise DisasterError("the level must be 3, 4 or 5")
    try:
        hazard = Hazard(hazard)
    except ValueError as exc:
        raise DisasterError(f"unknown hazard: {hazard}") from exc
    chosen = list(dict.fromkeys(areas))
    if not chosen and not whole_city:
        raise DisasterError("choose the areas, or the whole city")
    if whole_city:
        chosen = []
    now = timezone.now()
    order = EvacuationOrder.objects.create(
        disaster=disaster or selectors.disaster_current(),
        level=level,
        hazard=hazard.value,
        whole_city=whole_city,
        note=note.strip()[:500],
        issued_at=now,
        issued_by=issued_by,
        cap_identifier=f"pending-{uuid.uuid4()}",
    )
    order.areas.set(chosen)
    replaced = _replace_in_force(order, chosen, by=issued_by, when=now)
    order.cap_identifier = _identifier(order, 1)
    order.save(update_fields=["cap_identifier"])
    city, city_en = _city_names()
    references = [ref for old in replaced for ref in _references(old)]
    msg_type = "Update" if references else "Alert"
    alert = cap.evacuation_alert(
        identifier=order.cap_identifier,
        sender=_cap_sender(),
        sent=now,
        level=level,
        hazard=hazard.value,
        areas=_cap_areas(order, chosen or None),
        city_name=city,
        city_name_en=city_en,
        msg_type=msg_type,
        references=references,
        status=_cap_status(order),
        note=order.note,
    )
    _publish(order, msg_type=msg_type, alert=alert, headline=_order_words(order))
    core_services.audit_record(
        action=Action.CREATE, record=order, detail={"level": level, "hazard": hazard.value}
    )
    chronology_record(
        kind=ChronologyKind.EVACUATION,
        text=f"発令: {_order_words(order)} 対象: {_area_names(order, chosen)}"
        + (f" — {order.note}" if order.note else ""),
        disaster=order.disaster,
        record=order,
        important=True,
        at=now,
    )
    _order_dispatch(order, "issued", [] if order.whole_city else chosen)
    return order


def _replace_in_force(
    order: EvacuationOrder, areas: Sequence[Area], *, by: User | None, when: dt.datetime
) -> list[EvacuationOrder]:
    """Lift, for the new order's areas, the orders of the same hazard in force there."""
    in_force = (
        EvacuationOrder.objects.select_for_update()
        .filter(hazard=order.hazard, lifted_at__isnull=True)
        .exclude(pk=order.pk)
    )
    replaced = []
    wanted = {a.pk for a in areas}
    for old in in_force:
        old_areas = set(old.areas.values_list("pk", flat=True))
        if order.whole_city or old.whole_city or old_areas <= wanted:
            if not order.whole_city and old.whole_city:
                # A city-wide order stays in force outside the new order's areas: HQ lifts
                # it explicitly; the new areas simply get their own (latest) order.
                continue
            old.lifted_at, old.lifted_by, old.superseded_by = when, by, order
            old.save(update_fields=["lifted_at", "lifted_by", "superseded_by"])
            replaced.append(old)
        elif old_areas & wanted:
            old.areas.remove(*(old_areas & wanted))
            replaced.append(old)
    return replaced


@transaction.atomic
def evacuation_lift(
    *,
    order: EvacuationOrder,
    lifted_by: User | None,
    areas: Sequence[Area] | None = None,
) -> EvacuationOrder:
    """Lift (解除) an order: for all its areas (CAP Cancel) or some of them (CAP Update, which
    repeats the order for the areas still under it)."""
    locked = EvacuationOrder.objects.select_for_update().get(pk=order.pk)
    if locked.lifted_at is not None:
        raise DisasterError("this evacuation information has already been lifted")
    current = list(locked.areas.all())
    lifting = current if areas is None else [a for a in current if a in set(areas)]
    if areas is not None and not lifting:
        raise DisasterError("none of these areas is under this evacuation information")
    remaining = [a for a in current if a not in set(lifting)]
    now = timezone.now()
    sequence = locked.cap_messages.count() + 1
    city, city_en = _city_names()
    references = _references(locked)
    if remaining:
        locked.areas.set(remaining)
        msg_type = "Update"
    else:
        locked.lifted_at, locked.lifted_by = now, lifted_by
        locked.save(update_fields=["lifted_at", "lifted_by"])
        msg_type = "Cancel"
    alert = cap.evacuation_lift_alert(
        identifier=_identifier(locked, sequence),
        sender=_cap_sender(),
        sent=now,
        level=locked.level,
        hazard=locked.hazard,
        lifted_areas=_cap_areas(locked, lifting or None),
        remaining_areas=_cap_areas(locked, remaining) if remaining else (),
        references=references,
        city_name=city,
        city_name_en=city_en,
        status=_cap_status(locked),
    )
    lifted_names = _area_names(locked, lifting) if lifting else "市内全域"
    _publish(locked, msg_type=msg_type, alert=alert, headline=f"解除: {_order_words(locked)}")
    core_services.audit_record(
        action=Action.UPDATE,
        record=locked,
        detail={"lifted": [a.pk for a in lifting], "remaining": [a.pk for a in remaining]},
    )
    chronology_record(
        kind=ChronologyKind.EVACUATION,
        text=f"解除: {_order_words(locked)} 対象: {lifted_names}"
        + (f"（継続: {'、'.join(a.name for a in remaining)}）" if remaining else ""),
        disaster=locked.disaster,
        record=locked,
        important=True,
        at=now,
    )
    _order_dispatch(locked, "lifted", [] if locked.whole_city else lifting)
    return locked


def _order_dispatch(order: EvacuationOrder, event: str, areas: Sequence[Area]) -> None:
    """After commit, each order responder hears of the event and the areas it concerns
    (all the order's areas when issued, those lifted when lifted; none: the whole city)."""
    transaction.on_commit(lambda: memo.forget("evacuation:"))
    area_ids = [a.pk for a in areas]
    for path in responders.order_responders():
        transaction.on_commit(
            partial(responders.run_order_responder, order.pk, event, path, area_ids)
        )
