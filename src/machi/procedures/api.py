"""API of the procedures room: the catalogue, applications and their status history.

Residents' own submissions wait for the identity plugins (verified e-mail, OpenID Connect,
JPKI-style signatures); until then staff submit at the counter through this API.

No `from __future__ import annotations`: django-ninja reads the annotations at import.
"""

import datetime as dt
from typing import Annotated, Any, Literal

from django.http import HttpRequest
from django.shortcuts import get_object_or_404
from ninja import Field, Router, Schema
from ninja.responses import Status

from machi.core import access, problems
from machi.core import services as core_services
from machi.core.roles import Action
from machi.procedures import services
from machi.procedures.models import Application, Procedure

router = Router(tags=["procedures"])


class ProcedureOut(Schema):
    slug: str
    name: str
    name_en: str
    description: str
    department: str
    identity_level: str
    fee_yen: int
    deliveries: list[str]
    target_days: int
    form: list[dict[str, Any]]


class ApplicantIn(Schema):
    name: Annotated[str, Field(min_length=1, max_length=64)]
    email: Annotated[str, Field(max_length=254)] = ""


class ApplicationIn(Schema):
    procedure: Annotated[str, Field(max_length=48)]
    applicant: ApplicantIn
    answers: dict[str, Any]
    delivery: Literal["mail", "counter", "electronic"]


class HistoryOut(Schema):
    status: str
    at: dt.datetime
    message: str


class ApplicationOut(Schema):
    reference: str
    procedure: str
    status: str
    channel: str
    submitted_at: dt.datetime
    out_of_hours: bool
    due_on: dt.date
    fee_yen: int
    delivery: str
    history: list[HistoryOut]


class StatusIn(Schema):
    status: Literal[
        "reviewing", "correction", "approved", "issued", "sent", "rejected", "withdrawn"
    ]
    note: Annotated[str, Field(max_length=500)] = ""
    message: Annotated[str, Field(max_length=2000)] = Field(
        "", description="Shown to the applicant (needed for a correction request)."
    )


def _out(application: Application) -> dict[str, Any]:
    return {
        "reference": application.reference,
        "procedure": application.procedure.slug,
        "status": application.status,
        "channel": application.channel,
        "submitted_at": application.submitted_at,
        "out_of_hours": application.out_of_hours,
        "due_on": application.due_on,
        "fee_yen": application.fee_yen,
        "delivery": application.delivery,
        "history": list(application.history.all()),
    }


@router.get("/procedures", response=list[ProcedureOut], auth=None, summary="The catalogue")
def procedures(request: HttpRequest) -> list[Procedure]:
    return list(Procedure.objects.filter(active=True))


@router.post(
    "/applications",
    response={201: ApplicationOut},
    summary="Submit an application (staff at the counter; answers checked against the form)",
)
def application_create(request: HttpRequest, payload: ApplicationIn) -> Status[Any]:
    access.require(request.user, Action.CREATE, Application)
    procedure = Procedure.objects.filter(slug=payload.procedure, active=True).first()
    if procedure is None:
        raise problems.invalid("procedure", f"no procedure has the key {payload.procedure!r}")
    by = access.user_of(request)
    try:
        made = services.application_submit(
            procedure=procedure,
            applicant=services.Applicant(
                name=payload.applicant.name,
                email=payload.applicant.email,
                identity_level="counter",  # seen in person at the counter
            ),
            answers=payload.answers,
            delivery=payload.delivery,
            channel="counter",
            by=by,
        )
    except services.ProcedureError as exc:
        raise problems.invalid(exc.field, str(exc)) from exc
    return Status(201, _out(made))


@router.get(
    "/applications/handoff.{format}",
    summary="Hand-off to the back-office system: approved applications of a department "
    "(csv for Excel, or json; audited)",
    response={200: Any},
)
def handoff(
    request: HttpRequest,
    format: Literal["csv", "json"],
    department: str = "",
    status: str = "approved",
) -> Any:
    from django.http import HttpResponse

    from machi.core import japanese

    access.require(request.user, Action.EXPORT, Application)
    found = Application.objects.filter(status=status).select_related("procedure").order_by("pk")
    if department:
        found = found.filter(department=department)
    records = [
        {
            "reference": a.reference,
            "procedure": a.procedure.slug,
            "procedure_name": a.procedure.name,
            "applicant_name": a.applicant_name,
            "applicant_email": a.applicant_email,
            "applicant_identifier": a.applicant_identifier,
            "identity_level": a.identity_level,
            "answers": a.answers,
            "delivery": a.delivery,
            "fee_yen": a.fee_yen,
            "submitted_at": a.submitted_at.isoformat(),
            "status": a.status,
        }
        for a in found[:10_000]
    ]
    core_services.audit_record(
        action=Action.EXPORT,
        object_type="procedures.application",
        detail={"handoff": format, "department": department, "rows": len(records)},
    )
    if format == "json":
        return records
    import json

    header = list(records[0]) if records else ["reference"]
    rows = [header] + [
        [
            json.dumps(r[k], ensure_ascii=False) if isinstance(r[k], dict) else str(r[k])
            for k in header
        ]
        for r in records
    ]
    response = HttpResponse(japanese.excel_csv(rows), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="handoff-{department or "all"}.csv"'
    return response


@router.get(
    "/applications/{reference}",
    response=ApplicationOut,
    summary="An application and its status history (audited)",
)
def application_detail(request: HttpRequest, reference: str) -> dict[str, Any]:
    application = get_object_or_404(
        Application.objects.select_related("procedure"), reference=reference
    )
    access.require(request.user, Action.READ, application)
    core_services.audit_record(action=Action.READ, record=application)
    return _out(application)


@router.post(
    "/applications/{reference}/status",
    response=ApplicationOut,
    summary="Move an application on (受付 → 審査中 → 補正依頼 → 承認 → 発行 → 発送; 却下; 取下げ)",
)
def application_status(request: HttpRequest, reference: str, payload: StatusIn) -> dict[str, Any]:
    application = get_object_or_404(
        Application.objects.select_related("procedure"), reference=reference
    )
    access.require(request.user, Action.UPDATE, application)
    try:
        services.status_change(
            application=application,
            status=payload.status,
            by=access.user_of(request),
            note=payload.note,
            message=payload.message,
        )
    except services.ProcedureError as exc:
        raise problems.invalid(exc.field, str(exc)) from exc
    return _out(application)


class MeasureOut(Schema):
    procedure: str
    name: str
    applications: int
    online: int
    counter: int
    out_of_hours: int
    out_of_hours_share: float = Field(description="Evenings, weekends and public holidays.")
    completed: int
    median_days: float | None = Field(description="Submission to completion (sent or rejected).")
    p90_days: float | None


@router.get(
    "/procedures/measures",
    response=list[MeasureOut],
    summary="How residents apply (channel, out of hours) and how long it takes, per procedure",
)
def measures(request: HttpRequest, since: dt.date | None = None) -> list[dict[str, Any]]:
    from machi.procedures import measures as measures_module

    access.require(request.user, Action.READ, Application)
    return measures_module.procedure_measures(since=since)
