"""Writes of the emergency room: declaring and ending disasters (災害対策本部)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from functools import partial

from django.db import transaction
from django.utils import timezone

from machi.core import memo
from machi.core import services as core_services
from machi.core.hazards import Hazard
from machi.core.models import Area, User
from machi.core.roles import Action
from machi.emergency import responders
from machi.emergency.models import Disaster, ResponderEvent, ResponderRun


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
