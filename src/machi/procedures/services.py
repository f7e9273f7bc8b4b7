"""What the procedures room does: take applications against a procedure's form, number them,
and move them through the staff workflow, whose history is appended and never rewritten.

A procedure's form is data: a list of fields, each ``{"name", "label", "label_en", "type",
"required", "max_length", "choices", "help"}`` with ``type`` one of text, textarea, date,
number, choice, checkbox. Answers are checked against it, and every refusal names its field.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import jpholiday
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.crypto import salted_hmac
from django.utils.translation import gettext_lazy as _

from machi.core import fastsql
from machi.core import services as core_services
from machi.core.models import User
from machi.core.roles import Action
from machi.procedures.models import Application, Channel, Procedure, Status, StatusEntry

FIELD_TYPES = ("text", "textarea", "date", "number", "choice", "checkbox")
DELIVERIES = ("mail", "counter", "electronic")
DELIVERY_LABELS = {
    "mail": _("By mail to the registered address"),
    "counter": _("At the counter"),
    "electronic": _("Electronically"),
}
# 受付 → 審査中 → 補正依頼 → 審査中 …; 審査中 → 承認 → 発行 → 発送; 却下 and 取下げ end it.
TRANSITIONS: dict[str, set[str]] = {
    Status.RECEIVED: {Status.REVIEWING, Status.REJECTED, Status.WITHDRAWN},
    Status.REVIEWING: {Status.CORRECTION, Status.APPROVED, Status.REJECTED, Status.WITHDRAWN},
    Status.CORRECTION: {Status.REVIEWING, Status.REJECTED, Status.WITHDRAWN},
    Status.APPROVED: {Status.ISSUED, Status.REJECTED},
    Status.ISSUED: {Status.SENT},
    Status.SENT: set(),
    Status.REJECTED: set(),
    Status.WITHDRAWN: set(),
}
FINISHED = {Status.SENT, Status.REJECTED, Status.WITHDRAWN}
# Office hours of a city hall: weekdays 8:30–17:15, not on public holidays (jpholiday).
OPENS, CLOSES = dt.time(8, 30), dt.time(17, 15)
# References avoid letters that read as digits (0/O, 1/I/L) on the phone or on paper.
REFERENCE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"


class ProcedureError(ValueError):
    """A request the procedures room refuses; ``field`` names the input at fault."""

    def __init__(self, message: str, *, field: str = "") -> None:
        super().__init__(message)
        self.field = field


def out_of_hours(moment: dt.datetime) -> bool:
    """Submitted when the counter is closed: evenings, weekends, public holidays."""
    local = timezone.localtime(moment)
    day = local.date()
    if day.weekday() >= 5 or jpholiday.is_holiday(day):
        return True
    return not OPENS <= local.time() < CLOSES


def add_working_days(day: dt.date, days: int) -> dt.date:
    """The date ``days`` working days after ``day`` (weekends and public holidays skipped)."""
    while days > 0:
        day += dt.timedelta(days=1)
        if day.weekday() < 5 and not jpholiday.is_holiday(day):
            days -= 1
    return day


# Procedures offered, by key, as each web process last read them: a submission needs its
# procedure, and the catalogue changes a few times a year. An edit shows within this time.
_OFFERED: dict[str, tuple[float, Procedure | None]] = {}
OFFERED_SECONDS = 10.0


def procedure_offered(slug: str) -> Procedure | None:
    """The active procedure with this key (read at most every ten seconds per process)."""
    now = time.monotonic()
    cached = _OFFERED.get(slug)
    if cached is not None and now - cached[0] < OFFERED_SECONDS:
        return cached[1]
    found = Procedure.objects.filter(slug=slug, active=True).first()
    if len(_OFFERED) > 1000:  # keys asked for that do not exist: keep the memory bounded
        _OFFERED.clear()
    _OFFERED[slug] = (now, found)
    return found


def offered_forget() -> None:
    """Forget the procedures read so far: whoever saves or deletes a procedure calls it."""
    _OFFERED.clear()


def status_key(reference: str) -> str:
    """The secret in the applicant's status link: only who was given the link can open it."""
    return salted_hmac("machi.procedures.status", reference).hexdigest()[:24]


@functools.cache
def _status_pattern() -> str:
    # reverse() walks the URL patterns each time: once per process is enough.
    return reverse("portal:status", args=["REFERENCE", "KEY"])


def status_path(application: Application) -> str:
    """The applicant's status page (path; the mails make it absolute)."""
    reference = application.reference
    return _status_pattern().replace("REFERENCE", reference).replace("KEY", status_key(reference))


def new_reference() -> str:
    """``XXXX-XXXX-XXXX`` from an alphabet without look-alikes: 60 bits, said on the phone."""
    raw = "".join(secrets.choice(REFERENCE_ALPHABET) for _ in range(12))
    return f"{raw[:4]}-{raw[4:8]}-{raw[8:]}"


# --- The form as data -----------------------------------------------------------------------------


def form_check(form: Any) -> list[dict[str, Any]]:
    """Check a procedure's form definition (the catalogue is edited as data)."""
    if not isinstance(form, list):
        raise ProcedureError("the form is a list of fields", field="form")
    names: set[str] = set()
    for index, item in enumerate(form):
        where = f"form[{index}]"
        if not isinstance(item, dict) or not re.fullmatch(
            r"[a-z][a-z0-9_]{0,39}", str(item.get("name", ""))
        ):
            raise ProcedureError("each field needs a name (a-z, 0-9, _)", field=f"{where}.name")
        if item["name"] in names:
            raise ProcedureError(f"the field {item['name']} appears twice", field=f"{where}.name")
        names.add(item["name"])
        if item.get("type", "text") not in FIELD_TYPES:
            raise ProcedureError(f"type is one of {', '.join(FIELD_TYPES)}", field=f"{where}.type")
        if item.get("type") == "choice" and not item.get("choices"):
            raise ProcedureError("a choice needs its choices", field=f"{where}.choices")
        if not str(item.get("label", "")).strip():
            raise ProcedureError("each field needs a label", field=f"{where}.label")
    return form


def answers_check(procedure: Procedure, answers: Mapping[str, Any]) -> dict[str, Any]:
    """The answers, cleaned, or a ProcedureError naming the first field at fault."""
    cleaned: dict[str, Any] = {}
    known = {item["name"] for item in procedure.form}
    for name in answers:
        if name not in known:
            raise ProcedureError("this procedure has no such field", field=f"answers.{name}")
    for item in procedure.form:
        name, kind = item["name"], item.get("type", "text")
        field = f"answers.{name}"
        value = answers.get(name)
        if value is None or value == "" or (value is False and kind != "checkbox"):
            if item.get("required"):
                raise ProcedureError(f"{item['label']}: required", field=field)
            continue
        if kind in {"text", "textarea"}:
            text = str(value).strip()
            limit = int(item.get("max_length", 200 if kind == "text" else 2000))
            if len(text) > limit:
                raise ProcedureError(f"{item['label']}: at most {limit} characters", field=field)
            cleaned[name] = text
        elif kind == "date":
            try:
                cleaned[name] = dt.date.fromisoformat(str(value)).isoformat()
            except ValueError as exc:
                raise ProcedureError(f"{item['label']}: a date (YYYY-MM-DD)", field=field) from exc
        elif kind == "number":
            try:
                number = int(str(value))
            except ValueError as exc:
                raise ProcedureError(f"{item['label']}: a whole number", field=field) from exc
            low, high = item.get("min"), item.get("max")
            if (low is not None and number < low) or (high is not None and number > high):
                raise ProcedureError(f"{item['label']}: between {low} and {high}", field=field)
            cleaned[name] = number
        elif kind == "choice":
            choices = [c["value"] if isinstance(c, dict) else c for c in item["choices"]]
            if str(value) not in choices:
                raise ProcedureError(f"{item['label']}: one of the choices", field=field)
            cleaned[name] = str(value)
        elif kind == "checkbox":
            if not isinstance(value, bool):
                raise ProcedureError(f"{item['label']}: yes or no", field=field)
            if item.get("required") and not value:
                raise ProcedureError(f"{item['label']}: required", field=field)
            cleaned[name] = value
    return cleaned


def answers_shown(procedure: Procedure, answers: Mapping[str, Any]) -> list[tuple[str, Any]]:
    """The answers as staff read them: each field's label, and a choice's label for its value."""
    fields = {item["name"]: item for item in procedure.form}
    shown = []
    for name, value in answers.items():
        item = fields.get(name, {})
        if item.get("type") == "choice":
            labels = {
                c["value"]: c.get("label", c["value"])
                for c in item["choices"]
                if isinstance(c, dict)
            }
            value = labels.get(value, value)
        elif isinstance(value, bool):
            value = _("Yes") if value else _("No")
        shown.append((item.get("label", name), value))
    return shown


# --- Applications ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Applicant:
    name: str
    email: str = ""
    identifier: str = ""  # what the identity check established
    identity_level: str = ""
    address: str = ""  # the registered address, where a certificate is mailed


def application_submit(
    *,
    procedure: Procedure,
    applicant: Applicant,
    answers: Mapping[str, Any],
    delivery: str,
    channel: str,
    by: User | None = None,
    at: dt.datetime | None = None,
) -> Application:
    """A new application: answers checked, a reference given, 受付 as its first status."""
    if not procedure.active:
        raise ProcedureError("this procedure is not offered", field="procedure")
    if not applicant.name.strip():
        raise ProcedureError("the applicant's name is needed", field="applicant.name")
    if delivery not in procedure.deliveries:
        raise ProcedureError(
            f"delivery is one of {', '.join(procedure.deliveries)}", field="delivery"
        )
    if channel not in Channel.values:
        raise ProcedureError("channel is online or counter", field="channel")
    cleaned = answers_check(procedure, answers)
    moment = at or timezone.now()
    for _attempt in range(5):  # a reference already taken (1 in 2^60): draw again
        try:
            with transaction.atomic():
                # Plain INSERTs (core.fastsql): the hottest write of the room, 200 residents
                # at once after an evening broadcast.
                application = fastsql.insert(
                    Application(
                        reference=new_reference(),
                        procedure=procedure,
                        applicant_name=applicant.name.strip()[:64],
                        applicant_email=applicant.email.strip(),
                        applicant_identifier=applicant.identifier[:200],
                        applicant_address=applicant.address.strip()[:200],
                        identity_level=applicant.identity_level,
                        answers=cleaned,
                        delivery=delivery,
                        fee_yen=procedure.fee_yen,
                        channel=channel,
                        submitted_at=moment,
                        out_of_hours=out_of_hours(moment),
                        status=Status.RECEIVED,
                        department=procedure.department,
                        due_on=add_working_days(timezone.localdate(moment), procedure.target_days),
                    )
                )
                fastsql.insert(
                    StatusEntry(
                        application=application,
                        status=Status.RECEIVED,
                        at=moment,
                        actor=by.get_username() if by else "",
                    )
                )
                core_services.audit_record(action=Action.CREATE, record=application, actor=by)
                transaction.on_commit(functools.partial(_after_submit, application))
            return application
        except IntegrityError:
            continue
    raise ProcedureError("no reference could be given: try again", field="reference")


def _after_submit(application: Application) -> None:
    from machi.procedures import handlers

    handlers.after_submit(application)


def _after_status(application: Application, entry: StatusEntry, by: User | None) -> None:
    """What follows a status change, once it is committed: the fee refunded on a rejection,
    the applicant told."""
    from machi.procedures import notices
    from machi.procedures.payments import hooks

    hooks.on_status(application, entry.status, by)
    notices.status_changed(entry)


def status_change(
    *,
    application: Application,
    status: str,
    by: User | None,
    note: str = "",
    message: str = "",
) -> StatusEntry:
    """Append the next status, if the transitions map allows it from the current one."""
    with transaction.atomic():
        locked = Application.objects.select_for_update().get(pk=application.pk)
        current = Status(locked.status)
        if status not in TRANSITIONS[current]:
            allowed = ", ".join(sorted(TRANSITIONS[current])) or "none"
            raise ProcedureError(
                f"{current.value} cannot become {status} (allowed: {allowed})", field="status"
            )
        if status == Status.CORRECTION and not message.strip():
            raise ProcedureError("tell the applicant what to correct", field="message")
        now = timezone.now()
        entry = StatusEntry.objects.create(
            application=locked,
            status=status,
            at=now,
            actor=by.get_username() if by else "",
            note=note.strip()[:500],
            message=message.strip(),
        )
        locked.status = status
        locked.completed_at = now if status in FINISHED else None
        locked.save(update_fields=["status", "completed_at"])
        core_services.audit_record(
            action=Action.UPDATE, record=locked, detail={"status": status}, actor=by
        )
        transaction.on_commit(lambda: _after_status(locked, entry, by))
    application.status, application.completed_at = locked.status, locked.completed_at
    return entry


def assign(*, application: Application, to: User | None, by: User | None) -> Application:
    """Give the application to a member of staff (or to nobody); audited, not a status."""
    if application.status in FINISHED and to is not None:
        raise ProcedureError("a finished application is not assigned", field="assigned_to")
    Application.objects.filter(pk=application.pk).update(assigned_to=to)
    application.assigned_to = to
    core_services.audit_record(
        action=Action.UPDATE,
        record=application,
        detail={"assigned_to": to.get_username() if to else ""},
        actor=by,
    )
    return application
