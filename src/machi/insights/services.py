"""Writes of the insights room: only its own assumptions (the figures themselves are read from
the other rooms and never written). Every change is in the audit log, old and new values."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.db import transaction
from django.utils import timezone

from machi.core import services as core_services
from machi.core.models import User
from machi.core.roles import Action
from machi.insights.models import MINUTES, ProcedureSetting, Setting
from machi.insights.selectors import Minutes, assumptions

SETTING_FIELDS = (
    "value_per_hour_yen",
    "travel_cost_yen",
    "phone_enquiry_minutes",
    *MINUTES,
)


def _changes(
    record: Any, values: Mapping[str, Any], names: tuple[str, ...]
) -> dict[str, list[Any]]:
    return {
        name: [getattr(record, name), values[name]]
        for name in names
        if name in values and getattr(record, name) != values[name]
    }


@transaction.atomic
def setting_update(*, values: Mapping[str, int], by: User | None) -> Setting:
    """Change the city's assumptions (the value of an hour, the default minutes…)."""
    setting = assumptions()
    changed = _changes(setting, values, SETTING_FIELDS)
    if not changed:  # nothing to keep: the defaults stay defaults, unsaved
        return setting
    creating = setting.pk is None
    for name, (_old, new) in changed.items():
        setattr(setting, name, new)
    setting.updated_at, setting.updated_by = timezone.now(), by
    setting.save()
    core_services.audit_record(
        action=Action.CREATE if creating else Action.UPDATE,
        record=setting,
        detail={"changed": changed},
        actor=by,
    )
    return setting


@transaction.atomic
def procedure_minutes_update(
    *, procedure_id: int, values: Mapping[str, int], by: User | None
) -> ProcedureSetting | None:
    """Set the minutes of one procedure. Minutes equal to the defaults are not kept: such a
    procedure follows the defaults when they change."""
    defaults = Minutes.of(assumptions())
    current = ProcedureSetting.objects.select_for_update().filter(procedure_id=procedure_id).first()
    wanted = Minutes(*(int(values[name]) for name in MINUTES))
    if wanted == defaults:
        if current is not None:
            detail = {"changed": {name: [getattr(current, name), None] for name in MINUTES}}
            core_services.audit_record(
                action=Action.DELETE, record=current, detail=detail, actor=by
            )
            current.delete()
        return None
    if current is None:
        current = ProcedureSetting(procedure_id=procedure_id)
        changed = {name: [None, values[name]] for name in MINUTES}
        action = Action.CREATE
    else:
        changed = _changes(current, values, MINUTES)
        action = Action.UPDATE
        if not changed:
            return current
    for name in MINUTES:
        setattr(current, name, int(values[name]))
    current.updated_at, current.updated_by = timezone.now(), by
    current.save()
    core_services.audit_record(action=action, record=current, detail={"changed": changed}, actor=by)
    return current
