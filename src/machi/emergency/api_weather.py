"""API of JMA warnings and incoming CAP alerts.

No `from __future__ import annotations`: django-ninja reads the annotations at import.
"""

import datetime as dt
from typing import Annotated, Any

import pydantic
from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest
from django.utils import timezone
from ninja import Field, Query, Router, Schema
from ninja.responses import Status

from machi.core import access, problems
from machi.core.api import ProblemOut
from machi.core.roles import Action
from machi.emergency import selectors_weather, services_weather
from machi.emergency.models import IncomingAlert, JmaEntry, JmaEntryStatus, JmaWarning
from machi.emergency.selectors_weather import AlertView

router = Router(tags=["weather and alerts"])

XML_TYPES = ("application/xml", "text/xml", "application/cap+xml")


class WarningOut(Schema):
    id: int
    area_code: str = Field(description="JMA's 7-digit code of the area (市町村等).")
    area_name: str
    warning_type: str
    kind_code: str = Field(description="JMA's code of the kind of warning, e.g. 33.")
    kind_name: str
    status: str = Field(description="As JMA wrote it: 発表, 継続, 特別警報から警報, …")
    level: int | None = Field(description="警戒レベル (1–5), where the kind has one.")
    hazard: str
    reported_at: dt.datetime
    training: bool
    entry_id: int

    @staticmethod
    def resolve_training(obj: JmaWarning) -> bool:
        return bool(obj.detail.get("training")) if isinstance(obj.detail, dict) else False


class JmaEntryOut(Schema):
    id: int
    entry_id: str
    title: str
    type_code: str
    info_type: str
    headline: str
    office: str
    reported_at: dt.datetime | None
    received_at: dt.datetime
    status: JmaEntryStatus
    error: str = Field(description="Why a rejected message was rejected.")
    is_training: bool


class MessagesQuery(Schema):
    limit: Annotated[int, Field(ge=1, le=200)] = 50


class MessageQuery(Schema):
    name: Annotated[str, Field(max_length=200)] = Field(
        "", description="JMA's file name, if known: it carries the type code (…_VPWW54_…xml)."
    )


class AlertOut(Schema):
    id: int
    identifier: str
    sender: str
    sent: dt.datetime
    version: str
    status: str
    msg_type: str
    event: str
    headline: str
    severity: str
    urgency: str
    certainty: str
    area_desc: str
    expires: dt.datetime | None
    source_url: str
    received_at: dt.datetime
    state: str = Field(description="current, superseded, cancelled, expired or inactive.")
    replaced_by_id: int | None = Field(description="The Update or Cancel that replaced it.")


class AlertsQuery(Schema):
    current: bool = Field(False, description="true: only alerts in effect.")
    limit: Annotated[int, Field(ge=1, le=200)] = 100


class AlertUrlIn(Schema):
    url: Annotated[str, Field(min_length=1, max_length=500)]


def _alert_out(view: AlertView) -> AlertOut:
    alert = view.alert
    return AlertOut(
        id=alert.pk,
        identifier=alert.identifier,
        sender=alert.sender,
        sent=alert.sent,
        version=alert.version,
        status=alert.status,
        msg_type=alert.msg_type,
        event=alert.event,
        headline=alert.headline,
        severity=alert.severity,
        urgency=alert.urgency,
        certainty=alert.certainty,
        area_desc=alert.area_desc,
        expires=alert.expires,
        source_url=alert.source_url,
        received_at=alert.received_at,
        state=view.state,
        replaced_by_id=view.by.pk if view.by is not None else None,
    )


def _content_type(request: HttpRequest) -> str:
    return (request.content_type or "").split(";", 1)[0].strip().lower()


def _body(request: HttpRequest) -> bytes:
    try:
        data = request.body
    except RequestDataTooBig as exc:
        raise problems.invalid("", "the document is too large", where="body") from exc
    if not data.strip():
        raise problems.invalid("", "the body is empty: send the XML document", where="body")
    return data


@router.get(
    "/weather/warnings",
    response={200: list[WarningOut], 403: ProblemOut},
    summary="JMA warnings and advisories in force for the city, highest level first",
)
def warnings(request: HttpRequest) -> list[JmaWarning]:
    access.require(request.user, Action.READ, JmaWarning)
    return selectors_weather.warnings_active()


@router.get(
    "/weather/messages",
    response={200: list[JmaEntryOut], 403: ProblemOut, 422: ProblemOut},
    summary="The JMA messages received last (stored, not about the city, or rejected)",
)
def messages(request: HttpRequest, filters: Query[MessagesQuery]) -> Any:
    access.require(request.user, Action.READ, JmaEntry)
    return list(selectors_weather.jma_entries_recent(filters.limit))


@router.post(
    "/weather/messages",
    response={200: JmaEntryOut, 201: JmaEntryOut, 403: ProblemOut, 422: ProblemOut},
    summary="Add a JMA XML message (the raw document, Content-Type: application/xml)",
    description=(
        "Stored once per content (201; 200 when it was already stored). A document that is "
        "unsafe, malformed or invalid is kept as rejected and answered 422 with the reason."
    ),
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/xml": {"schema": {"type": "string", "format": "binary"}}},
        }
    },
)
def message_add(request: HttpRequest, query: Query[MessageQuery]) -> Status[JmaEntry]:
    access.require(request.user, Action.CREATE, JmaEntry)
    if _content_type(request) not in XML_TYPES:
        raise problems.invalid(
            "content-type", "send the XML with Content-Type: application/xml", where="header"
        )
    upload = services_weather.jma_upload(data=_body(request), name=query.name)
    if upload.entry.status == JmaEntryStatus.REJECTED:
        raise problems.invalid("", upload.entry.error, where="body")
    return Status(200 if upload.known else 201, upload.entry)


@router.get(
    "/alerts",
    response={200: list[AlertOut], 403: ProblemOut, 422: ProblemOut},
    summary="CAP alerts received from other authorities, newest first, with their state",
)
def alerts(request: HttpRequest, filters: Query[AlertsQuery]) -> list[AlertOut]:
    access.require(request.user, Action.READ, IncomingAlert)
    views = (
        selectors_weather.alerts_current()[: filters.limit]
        if filters.current
        else selectors_weather.alerts_all(limit=filters.limit)
    )
    return [_alert_out(view) for view in views]


@router.post(
    "/alerts",
    response={200: AlertOut, 201: AlertOut, 403: ProblemOut, 422: ProblemOut},
    summary='Add a CAP 1.1 or 1.2 alert: the raw document, or {"url": …} to fetch it',
    description=(
        "Kept once per sender and identifier (201; 200 when it was already kept). An Update "
        "or Cancel marks the alerts it references as superseded or cancelled."
    ),
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/cap+xml": {"schema": {"type": "string", "format": "binary"}},
                "application/xml": {"schema": {"type": "string", "format": "binary"}},
                "application/json": {
                    "schema": {
                        "type": "object",
                        "properties": {"url": {"type": "string", "maxLength": 500}},
                        "required": ["url"],
                    }
                },
            },
        }
    },
)
def alert_add(request: HttpRequest) -> Status[AlertOut]:
    access.require(request.user, Action.CREATE, IncomingAlert)
    started = timezone.now()
    who = request.user.get_username()
    content_type = _content_type(request)
    try:
        if content_type == "application/json":
            try:
                payload = AlertUrlIn.model_validate_json(_body(request))
            except pydantic.ValidationError as exc:
                message = 'send {"url": "https://…"}'
                raise problems.invalid("url", message, where="body") from exc
            alert = services_weather.alert_fetch(payload.url, received_by=who)
        elif content_type in XML_TYPES:
            alert = services_weather.alert_receive(_body(request), received_by=who)
        else:
            raise problems.invalid(
                "content-type",
                'send the alert as application/cap+xml, or {"url": …} as application/json',
                where="header",
            )
    except services_weather.AlertError as exc:
        field = "url" if exc.field == "url" else ""
        raise problems.invalid(field, str(exc), where="body") from exc
    view = selectors_weather.alert_by_id(alert.pk) or AlertView(alert, "current")
    return Status(201 if alert.received_at >= started else 200, _alert_out(view))
