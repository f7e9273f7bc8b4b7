"""Writes of the emergency room: declaring and ending disasters (災害対策本部)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from functools import partial

from django.db import models, transaction
from django.utils import timezone

from machi.core import context, memo
from machi.core import services as core_services
from machi.core.hazards import Hazard
from machi.core.models import Area, User
from machi.core.roles import Action
from machi.emergency import responders
from machi.emergency.models import (
    ChronologyEntry,
    ChronologyKind,
    Disaster,
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
    disaster: Disaster | None = None,
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
    from machi.emergency import selectors  # the current disaster is a read

    text = " ".join(text.split())
    if not text:
        raise DisasterError("a chronology entry needs text")
    if actor is None:
        user = context.current().user
        actor = user.get_username() if user is not None and user.is_authenticated else ""
    return ChronologyEntry.objects.create(
        disaster=disaster or selectors.disaster_current(),
        kind=ChronologyKind(kind),
        text=text[:1000],
        actor=actor,
        department=department[:64],
        important=important,
        at=at or timezone.now(),
        object_type=record._meta.label_lower if record is not None else "",
        object_id=str(record.pk) if record is not None else "",
    )
