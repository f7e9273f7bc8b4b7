"""API of the procedures room: the catalogue, applications and their status history.

Who may submit: staff at the counter (their token or session), a resident with a token from
the e-mail check (`Authorization: Bearer r.…`), or anyone whose application carries a
JPKI-style signature (CMS, detached, over the canonical JSON of procedure, answers and
delivery). A procedure's identity level decides which of the residents' ways is enough.

No `from __future__ import annotations`: django-ninja reads the annotations at import.
"""

import base64
import binascii
import datetime as dt
from typing import Annotated, Any, Literal

from django.conf import settings
from django.http import HttpRequest
from django.shortcuts import get_object_or_404
from django.utils.crypto import constant_time_compare
from ninja import Field, Router, Schema
from ninja.errors import AuthorizationError
from ninja.responses import Status
from ninja.security import HttpBearer
from ninja.throttling import BaseThrottle

from machi.core import access, problems, ratelimit
from machi.core import services as core_services
from machi.core.auth import BearerTokenAuth, StaffSessionAuth
from machi.core.middleware import client_ip
from machi.core.models import User
from machi.core.roles import Action
from machi.procedures import services
from machi.procedures.identity import base
from machi.procedures.models import Application, Procedure

router = Router(tags=["procedures"])


class ResidentTokenAuth(HttpBearer):
    openapi_description = (
        "A resident's token from POST /api/v1/identity/email/token (`r.…`, 2 hours)."
    )

    def authenticate(self, request: HttpRequest, token: str) -> Any:
        return base.identity_from_token(token)


class _Anyone:
    """No credentials: allowed only where the request proves itself (a signature)."""

    pk = None


ANYONE = _Anyone()


def _anyone(request: HttpRequest) -> Any:
    return ANYONE


class ResidentThrottle(BaseThrottle):
    """Per resident (their identifier) and per network address, per minute. The address
    limit is high: a shelter's 00000JAPAN puts many residents behind one address."""

    WINDOW = 60

    def allow_request(self, request: HttpRequest) -> bool:
        who = getattr(request, "auth", None)
        ip = client_ip(request) or "?"
        if isinstance(who, User):
            return ratelimit.hit(
                "api-user",
                f"u{who.pk}",
                limit=settings.API_RATE_LIMIT,
                window=self.WINDOW,
                alias="ratelimit",
            )
        if isinstance(who, base.Identity) and not ratelimit.hit(
            "api-resident",
            who.identifier,
            limit=int(getattr(settings, "MACHI_PROCEDURES_API_RESIDENT_RATE", 30)),
            window=self.WINDOW,
            alias="ratelimit",
        ):
            return False
        return ratelimit.hit(
            "api-resident-ip",
            ip,
            limit=int(getattr(settings, "MACHI_PROCEDURES_API_IP_RATE", 600)),
            window=self.WINDOW,
            alias="ratelimit",
        )

    def wait(self) -> float | None:
        return float(ratelimit.seconds_left(self.WINDOW))


STAFF_AUTH = [BearerTokenAuth(), StaffSessionAuth()]
# An application's reference (XXXX-XXXX-XXXX); anything else is no application (422).
Reference = Annotated[str, Field(max_length=32, pattern=r"^[0-9A-Za-z-]+$")]


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
    applicant: ApplicantIn | None = Field(
        None, description="Staff at the counter: who applied. Residents: taken from identity."
    )
    answers: dict[str, Any]
    delivery: Literal["mail", "counter", "electronic"]
    email: Annotated[str, Field(max_length=254)] = Field(
        "", description="Residents: where news of the application goes (optional)."
    )
    address: Annotated[str, Field(max_length=200)] = Field(
        "", description="Residents without a certificate or OIDC address: for mail delivery."
    )
    signature: Annotated[str, Field(max_length=90_000)] = Field(
        "",
        description="JPKI-style: base64 of a detached CMS signature over the canonical JSON "
        '{"answers":…,"delivery":…,"procedure":…} (keys sorted, no spaces, UTF-8).',
    )


class HistoryOut(Schema):
    status: str
    at: dt.datetime
    message: str


class ApplicationOut(Schema):
    reference: str
    status_url: str = Field(description="The applicant's status page (secret link).")
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


def _out(application: Application, history: list[Any] | None = None) -> dict[str, Any]:
    return {
        "reference": application.reference,
        "status_url": services.status_path(application),
        "procedure": application.procedure.slug,
        "status": application.status,
        "channel": application.channel,
        "submitted_at": application.submitted_at,
        "out_of_hours": application.out_of_hours,
        "due_on": application.due_on,
        "fee_yen": application.fee_yen,
        "delivery": application.delivery,
        "history": list(application.history.all()) if history is None else history,
    }


@router.get("/procedures", response=list[ProcedureOut], auth=None, summary="The catalogue")
def procedures(request: HttpRequest) -> list[Procedure]:
    return list(Procedure.objects.filter(active=True))


@router.post(
    "/applications",
    response={201: ApplicationOut},
    auth=[ResidentTokenAuth(), *STAFF_AUTH, _anyone],
    throttle=[ResidentThrottle()],
    summary="Submit an application (answers checked against the form; returns the reference)",
    description="Staff at the counter send `applicant`. Residents authenticate with their "
    "token (e-mail level) or sign the application (`signature`, JPKI level).",
)
def application_create(request: HttpRequest, payload: ApplicationIn) -> Status[Any]:
    procedure = services.procedure_offered(payload.procedure)
    if procedure is None:
        raise problems.invalid("procedure", f"no procedure has the key {payload.procedure!r}")
    who = request.auth  # type: ignore[attr-defined]
    try:
        if isinstance(who, User):
            access.require(who, Action.CREATE, Application)
            if payload.applicant is None:
                raise services.ProcedureError("who applied at the counter", field="applicant")
            applicant = services.Applicant(
                name=payload.applicant.name,
                email=payload.applicant.email,
                identity_level="counter",  # seen in person at the counter
                address=payload.address,
            )
            channel = "counter"
        else:
            applicant = _resident(procedure, payload, who)
            channel = "online"
            who = None
        made = services.application_submit(
            procedure=procedure,
            applicant=applicant,
            answers=payload.answers,
            delivery=payload.delivery,
            channel=channel,
            by=who,
        )
    except services.ProcedureError as exc:
        raise problems.invalid(exc.field, str(exc)) from exc
    # A new application's history is its first status: no need to read it back.
    first = {"status": made.status, "at": made.submitted_at, "message": ""}
    return Status(201, _out(made, history=[first]))


def _resident(procedure: Procedure, payload: ApplicationIn, who: Any) -> services.Applicant:
    """The applicant as their identity shows them, if strong enough for the procedure."""
    identity = who if isinstance(who, base.Identity) else None
    if payload.signature:
        from machi.procedures.identity import jpki

        try:
            raw = base64.b64decode(payload.signature, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise services.ProcedureError("not base64", field="signature") from exc
        cleaned = services.answers_check(procedure, payload.answers)
        identity = jpki.verify_application(
            base.signing_payload(
                procedure=procedure.slug, answers=cleaned, delivery=payload.delivery
            ),
            raw,
        )
    if identity is None:
        raise AuthorizationError(401, "sign in (a resident token) or sign the application")
    if not base.satisfies(identity, procedure.identity_level):
        raise services.ProcedureError(
            f"this procedure needs a stronger identity check ({procedure.identity_level})",
            field="signature" if procedure.identity_level == "jpki" else "identity",
        )
    contact = payload.email.strip() or identity.email
    return services.Applicant(
        name=identity.name or contact or identity.identifier,
        email=contact,
        identifier=identity.identifier,
        identity_level=identity.level,
        address=identity.address or payload.address,
    )


@router.get(
    "/applications/handoff.{format}",
    summary="Hand-off to the back-office system: approved applications of a department "
    "(csv for Excel, or json; audited)",
    response={200: Any},
    openapi_extra={
        "responses": {
            "200": {
                "content": {
                    "application/json": {"schema": {"type": "array", "items": {"type": "object"}}},
                    "text/csv": {"schema": {"type": "string"}},
                }
            }
        }
    },
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
    auth=[ResidentTokenAuth(), *STAFF_AUTH, _anyone],
    throttle=[ResidentThrottle()],
    summary="An application and its status history, for staff or the applicant (audited)",
    description="The applicant: their resident token, or `key` from their status link.",
)
def application_detail(request: HttpRequest, reference: Reference, key: str = "") -> dict[str, Any]:
    application = get_object_or_404(
        Application.objects.select_related("procedure"), reference=reference
    )
    who = request.auth  # type: ignore[attr-defined]
    if isinstance(who, User):
        access.require(who, Action.READ, application)
        core_services.audit_record(action=Action.READ, record=application)
        return _out(application)
    mine = isinstance(who, base.Identity) and constant_time_compare(
        who.identifier, application.applicant_identifier
    )
    if not mine and not (key and constant_time_compare(key, services.status_key(reference))):
        raise AuthorizationError(404, "no such application")
    if application.anonymised_at:
        raise AuthorizationError(404, "no such application")
    core_services.audit_record(action=Action.READ, record=application, detail={"by": "applicant"})
    return _out(application)


@router.post(
    "/applications/{reference}/status",
    response=ApplicationOut,
    summary="Move an application on (受付 → 審査中 → 補正依頼 → 承認 → 発行 → 発送; 却下; 取下げ)",
)
def application_status(
    request: HttpRequest, reference: Reference, payload: StatusIn
) -> dict[str, Any]:
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


class EmailIn(Schema):
    email: Annotated[str, Field(max_length=254)]


class EmailCodeIn(Schema):
    email: Annotated[str, Field(max_length=254)]
    code: Annotated[str, Field(max_length=12)]


class TokenOut(Schema):
    token: str
    expires_in: int = Field(description="Seconds.")
    level: str


class _IpThrottle(BaseThrottle):
    def allow_request(self, request: HttpRequest) -> bool:
        return ratelimit.hit(
            "procedures-code-ip",
            client_ip(request) or "?",
            limit=int(getattr(settings, "MACHI_PROCEDURES_CODE_RATE_LIMIT", 30)),
            window=3600,
            alias="ratelimit",
        )


@router.post(
    "/identity/email/code",
    response={202: dict[str, bool]},
    auth=None,
    throttle=[_IpThrottle()],
    summary="A resident asks for a 6-digit code by e-mail (valid 15 minutes)",
)
def email_code(request: HttpRequest, payload: EmailIn) -> Status[Any]:
    from machi.procedures.identity import email

    try:
        email.code_send(payload.email)
    except services.ProcedureError as exc:
        raise problems.invalid(exc.field, str(exc)) from exc
    return Status(202, {"sent": True})


@router.post(
    "/identity/email/token",
    response=TokenOut,
    auth=None,
    summary="The code from the mail for a resident token (`Authorization: Bearer r.…`)",
)
def email_token(request: HttpRequest, payload: EmailCodeIn) -> dict[str, Any]:
    from machi.procedures.identity import email

    try:
        identity = email.code_check(payload.email, payload.code)
    except services.ProcedureError as exc:
        raise problems.invalid(exc.field, str(exc)) from exc
    return {"token": base.token_for(identity), "expires_in": base.TOKEN_MAX_AGE, "level": "email"}
