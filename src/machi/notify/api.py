"""API of the notify room: other systems send broadcasts and follow them.

Authenticate with a notification API key (``Authorization: Bearer machi_notify_…``, made on
the console's key page) or as staff. A *test* key's broadcasts send nothing: every delivery is
marked delivered with a fake receipt, so a city's other systems can be tested end to end. A
key's broadcasts need no second approval (creating the key was the approval); a staff
member's follow the console's rules.

No `from __future__ import annotations`: django-ninja reads the annotations at import.
"""

import datetime as dt
import uuid
from typing import Annotated, Any

from django.http import HttpRequest
from django.shortcuts import get_object_or_404
from ninja import Field, Router, Schema
from ninja.errors import HttpError
from ninja.responses import Status
from ninja.security import HttpBearer

from machi.core import access, context, problems
from machi.core.api import Moment, areas_from_refs
from machi.core.auth import BearerTokenAuth, StaffSessionAuth
from machi.core.roles import Action
from machi.notify import services
from machi.notify.models import ApiKey, ApiKeyKind, Broadcast, Channel, Template, Topic

KEY_PREFIX = "machi_notify_"


class NotifyKeyAuth(HttpBearer):
    openapi_description = "A notification API key (`machi_notify_live_…` or `machi_notify_test_…`)."

    def authenticate(self, request: HttpRequest, token: str) -> Any:
        if not token.startswith(KEY_PREFIX):
            return None
        from machi.notify.services_keys import api_key_authenticate

        key = api_key_authenticate(token)
        if key is None:
            return None
        request.notify_key = key  # type: ignore[attr-defined]
        context.set_user(key.created_by)
        return key


router = Router(tags=["notify"], auth=[NotifyKeyAuth(), BearerTokenAuth(), StaffSessionAuth()])


class BroadcastIn(Schema):
    reference: Annotated[str, Field(max_length=40)] | None = Field(
        None, description="Your id for this broadcast: sending it again answers the first (200)."
    )
    template: Annotated[str, Field(max_length=48)] | None = Field(
        None, description="A template's key; its ((placeholders)) are filled from `values`."
    )
    values: dict[str, Annotated[str, Field(max_length=500)]] = {}
    subject: Annotated[str, Field(max_length=200)] | None = None
    body: Annotated[str, Field(max_length=5000)] | None = None
    subject_en: Annotated[str, Field(max_length=200)] = ""
    body_en: Annotated[str, Field(max_length=5000)] = ""
    topics: list[Annotated[str, Field(max_length=32)]] = Field(
        [], description="Topic keys (GET /notify/topics)."
    )
    areas: list[int | str] = Field(
        [], description="Areas by id, 町字ID or name; none: the whole city."
    )
    channels: list[Channel] | None = Field(
        None, description="Default: every channel this installation can send through."
    )
    emergency: bool = False
    everyone: bool = Field(False, description="Every subscriber, whatever their topics.")
    scheduled_at: Moment | None = None


class BroadcastOut(Schema):
    id: uuid.UUID
    status: str
    subject: str
    channels: list[str]
    emergency: bool
    everyone: bool
    test: bool
    scheduled_at: dt.datetime | None
    created_at: dt.datetime
    started_at: dt.datetime | None
    finished_at: dt.datetime | None
    total: int
    delivered: int
    failed: int
    progress: int = Field(description="Per cent of deliveries finished.")
    url: str = Field(description="The message's public page.")


class CountsOut(BroadcastOut):
    counts: dict[str, int] = Field(description="Deliveries by status, and by channel:status.")


class TopicOut(Schema):
    slug: str
    name: str
    name_en: str
    emergency: bool


def _out(broadcast: Broadcast, counts: bool = False) -> dict[str, Any]:
    from machi.notify import conf

    data = {
        field: getattr(broadcast, field)
        for field in [
            "id",
            "status",
            "subject",
            "channels",
            "emergency",
            "everyone",
            "test",
            "scheduled_at",
            "created_at",
            "started_at",
            "finished_at",
            "total",
            "delivered",
            "failed",
            "progress",
        ]
    }
    data["url"] = f"{conf.site_url()}/notify/messages/{broadcast.pk}/"
    if counts:
        data["counts"] = services.broadcast_counts(broadcast)
    return data


def _key(request: HttpRequest) -> ApiKey | None:
    return getattr(request, "notify_key", None)


def _topics(slugs: list[str]) -> list[Topic]:
    found = {t.slug: t for t in Topic.objects.filter(slug__in=slugs)}
    for index, slug in enumerate(slugs):
        if slug not in found:
            raise problems.invalid(f"topics[{index}]", f"no topic has the key {slug!r}")
    return [found[s] for s in slugs]


@router.post(
    "/notify/broadcasts",
    response={200: BroadcastOut, 201: BroadcastOut},
    summary="Send a broadcast (now, or at scheduled_at)",
)
def broadcast_send(request: HttpRequest, payload: BroadcastIn) -> Status[BroadcastOut]:
    key = _key(request)
    staff = access.user_of(request)
    if key is None:
        access.require(request.user, Action.CREATE, Broadcast)
        owner = f"user:{request.user.pk}"
    else:
        owner = f"key:{key.pk}"
    origin = f"api:{owner}:{payload.reference}" if payload.reference else None
    if key is not None and origin is None:
        origin = f"api:{owner}:{uuid.uuid4().hex}"  # the key's broadcasts are known by origin
    if payload.reference:
        earlier = Broadcast.objects.filter(origin=origin).first()
        if earlier is not None:
            return Status(200, BroadcastOut(**_out(earlier)))
    template = None
    if payload.template:
        template = Template.objects.filter(slug=payload.template).first()
        if template is None:
            raise problems.invalid("template", f"no template has the key {payload.template!r}")
    try:
        if template is not None:
            text = services.template_render(template, payload.values)
        else:
            text = services.Text(
                subject=payload.subject or "",
                body=payload.body or "",
                subject_en=payload.subject_en,
                body_en=payload.body_en,
            )
        topics = _topics(payload.topics)
        if template is not None and not topics:
            topics = list(template.topics.all())
        broadcast = services.broadcast_create(
            text=text,
            topics=topics,
            areas=areas_from_refs(list(payload.areas), "areas"),
            channels=(
                [c.value for c in payload.channels]
                if payload.channels is not None
                else services.channels_available()
            ),
            emergency=payload.emergency,
            everyone=payload.everyone,
            template=template,
            scheduled_at=payload.scheduled_at,
            created_by=key.created_by if key else staff,
            test=key is not None and key.kind == ApiKeyKind.TEST,
            origin=origin,
        )
        if key is not None and services.needs_approval(broadcast):
            broadcast = services.broadcast_release(broadcast=broadcast)
        else:
            broadcast = services.broadcast_submit(broadcast=broadcast, by=broadcast.created_by)
    except services.NotifyError as exc:
        raise problems.invalid(exc.field, str(exc)) from exc
    return Status(201, BroadcastOut(**_out(broadcast)))


def _visible(request: HttpRequest, broadcast_id: uuid.UUID) -> Broadcast:
    broadcast = get_object_or_404(Broadcast, pk=broadcast_id)
    key = _key(request)
    if key is not None:
        if not (broadcast.origin or "").startswith(f"api:key:{key.pk}:"):
            raise HttpError(404, "Not Found")  # another key's, or the console's
    else:
        access.require(request.user, Action.READ, broadcast)
    return broadcast


@router.get("/notify/broadcasts/{broadcast_id}", response=CountsOut, summary="A broadcast's status")
def broadcast_status(request: HttpRequest, broadcast_id: uuid.UUID) -> dict[str, Any]:
    return _out(_visible(request, broadcast_id), counts=True)


@router.get(
    "/notify/broadcasts", response=list[BroadcastOut], summary="Recent broadcasts (newest first)"
)
def broadcast_list(request: HttpRequest, limit: int = 50) -> list[dict[str, Any]]:
    key = _key(request)
    found = Broadcast.objects.all()
    if key is not None:
        found = found.filter(origin__startswith=f"api:key:{key.pk}:")
    else:
        access.require(request.user, Action.READ, Broadcast)
    return [_out(b) for b in found.order_by("-created_at")[: max(1, min(limit, 200))]]


@router.get("/notify/topics", response=list[TopicOut], auth=None, summary="Topics residents choose")
def topics(request: HttpRequest) -> list[Topic]:
    return list(Topic.objects.filter(active=True))
