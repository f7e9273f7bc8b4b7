"""The residents' side of notifications: subscribe, confirm, manage, unsubscribe, read.

No account anywhere: a subscription is managed through its signed link (in every message and on
the confirmation page). The subscribe page answers the same whether an address was registered
or not, so nobody learns from it who subscribes. The unsubscribe link takes the one-click POST
of RFC 8058 that mail providers send without cookies: the signed token is its protection.
"""

from __future__ import annotations

import io
import json
import logging
import uuid
from pathlib import Path
from typing import Any

import segno
from django import forms
from django.conf import settings
from django.contrib import messages as flash
from django.core import signing
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import get_language
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from machi.core import ratelimit
from machi.core.middleware import client_ip
from machi.core.models import Area
from machi.notify import conf, inbound, selectors, services
from machi.notify.forms import ChoicesForm, SubscribeForm, error_summary
from machi.notify.models import Subscriber, SubscriberStatus, Topic
from machi.notify.services import NotifyError

logger = logging.getLogger(__name__)

SUBSCRIBE_RATE_SCOPE = "notify-subscribe-ip"
PUSH_RATE_SCOPE = "notify-push-ip"
RATE_WINDOW = 60 * 60
MAX_JSON_BYTES = 16 * 1024  # a PushSubscription and the choices fit in far less
ARCHIVE_PAGE_SIZE = 20
SERVICE_WORKER = Path(__file__).resolve().parent / "static" / "notify" / "sw.js"


def _rate_limit(name: str, default: int) -> int:
    # A shelter's 00000JAPAN puts many residents behind one address: a city may raise these.
    return int(getattr(settings, name, default))


def _private(response: HttpResponse) -> HttpResponse:
    """Pages whose address holds a subscriber's token: never sent on as a Referer to another
    site. (Not "no-referrer": the browser would then send ``Origin: null`` with the page's own
    forms, and Django's CSRF check rightly refuses that.)"""
    response["Referrer-Policy"] = "same-origin"
    return response


def _language() -> str:
    language = get_language() or "ja"
    return language if language in services.LANGUAGES else "ja"


# --- Forms and their errors ---------------------------------------------------------------------


def _field_error(form: forms.Form, exc: NotifyError) -> None:
    """A rule broken in a service, shown on the field it names (or above the form)."""
    form.add_error(exc.field if exc.field in form.fields else None, str(exc))


def _push_context() -> dict[str, Any]:
    """What push.js needs; without a usable VAPID key the Web Push part is not offered."""
    try:
        from machi.notify import vapid

        key = vapid.public_key_b64url()
    except Exception:  # a misconfigured key must not take the subscribe page down
        logger.exception("no VAPID key: Web Push is not offered")
        key = ""
    return {"vapid_key": key, "push_endpoint": reverse("notify:push_subscribe")}


def _rate_limited(request: HttpRequest) -> HttpResponse:
    response = render(request, "notify/public/rate_limited.html", status=429)
    response["Retry-After"] = str(ratelimit.seconds_left(RATE_WINDOW))
    return response


# --- Subscribe ----------------------------------------------------------------------------------


@never_cache
@require_http_methods(["GET", "POST"])
def subscribe(request: HttpRequest) -> HttpResponse:
    """Choose what to receive and how: e-mail (double opt-in), Web Push, LINE."""
    via = request.POST.get("via") or request.GET.get("via") or ""
    form = SubscribeForm(request.POST or None, initial={"language": _language()})
    status = 200
    if request.method == "POST":
        ip = client_ip(request) or "?"
        limit = _rate_limit("MACHI_NOTIFY_SUBSCRIBE_RATE_LIMIT", 20)
        if ratelimit.exceeded(SUBSCRIBE_RATE_SCOPE, ip, limit=limit, window=RATE_WINDOW):
            return _rate_limited(request)
        if form.is_valid():
            try:
                services.subscribe_email(
                    address=form.cleaned_data["address"],
                    choices=form.choices(),
                    source="qr" if via == "qr" else "web",
                )
            except NotifyError as exc:
                _field_error(form, exc)
            else:
                ratelimit.hit(SUBSCRIBE_RATE_SCOPE, ip, limit=limit, window=RATE_WINDOW)
                return redirect("notify:subscribe_sent")
        status = 400
    return render(
        request,
        "notify/public/subscribe.html",
        {
            "form": form,
            "errors": error_summary(form, anchor="#choices"),
            "via": "qr" if via == "qr" else "",
            "line_url": conf.line_friend_url(),
            "register_address": inbound.register_address(),
            **_push_context(),
        },
        status=status,
    )


@require_GET
def subscribe_sent(request: HttpRequest) -> HttpResponse:
    return render(request, "notify/public/subscribe_sent.html")


@never_cache
@require_http_methods(["GET", "POST"])
def confirm(request: HttpRequest, token: str) -> HttpResponse:
    """The link of the confirmation mail: a button (GET), and the address starts receiving
    when the resident presses it (POST). A mail scanner opening the link confirms nothing."""
    if request.method == "GET":
        pending = services.subscriber_to_confirm(token=token)
        if pending is None:
            return _private(render(request, "notify/public/confirm_failed.html", status=400))
        if pending.status != SubscriberStatus.ACTIVE:
            return _private(render(request, "notify/public/confirm.html", {"subscriber": pending}))
    subscriber = services.subscription_confirm(token=token)
    if subscriber is None:
        return _private(render(request, "notify/public/confirm_failed.html", status=400))
    manage = reverse("notify:manage", args=[services.manage_token(subscriber)])
    return _private(
        render(
            request,
            "notify/public/confirmed.html",
            {"subscriber": subscriber, "manage_url": manage},
        )
    )


def _link_invalid(request: HttpRequest) -> HttpResponse:
    return _private(render(request, "notify/public/link_invalid.html", status=404))


def _initial(subscriber: Subscriber) -> dict[str, Any]:
    return {
        "topics": list(subscriber.topics.all()),
        "areas": list(subscriber.areas.all()),
        "groups": list(subscriber.groups.all()),
        "language": subscriber.language,
        "emergency_only": subscriber.emergency_only,
    }


@never_cache
@require_http_methods(["GET", "POST"])
def manage(request: HttpRequest, token: str) -> HttpResponse:
    """Change what a subscription receives, or stop it."""
    subscriber = services.subscriber_from_token(token)
    if subscriber is None:
        return _link_invalid(request)
    form = ChoicesForm(request.POST or None, initial=_initial(subscriber))
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                services.subscription_update(subscriber=subscriber, choices=form.choices())
            except NotifyError as exc:
                _field_error(form, exc)
            else:
                flash.success(request, _("Your choices have been saved."))
                return _private(redirect("notify:manage", token=token))
        status = 400
    return _private(
        render(
            request,
            "notify/public/manage.html",
            {
                "form": form,
                "errors": error_summary(form, anchor="#choices"),
                "subscriber": subscriber,
                "token": token,
            },
            status=status,
        )
    )


def _token_valid(token: str) -> bool:
    try:
        signing.Signer(salt=services.MANAGE_SALT).unsign(token)
    except signing.BadSignature:
        return False
    return True


@csrf_exempt  # RFC 8058: the mail provider POSTs without cookies; the signed token protects it
@never_cache
@require_http_methods(["GET", "POST"])
def unsubscribe(request: HttpRequest, token: str) -> HttpResponse:
    """GET asks (link scanners follow links); POST stops, the one-click POST included."""
    if not _token_valid(token):
        return _link_invalid(request)
    subscriber = services.subscriber_from_token(token)
    if request.method == "POST":
        if subscriber is not None:
            services.unsubscribe(subscriber=subscriber)
        # Already gone (a second click, a provider's retry): the same answer.
        return _private(render(request, "notify/public/unsubscribed.html"))
    return _private(
        render(
            request,
            "notify/public/unsubscribe.html",
            {"subscriber": subscriber, "token": token},
        )
    )


# --- The public archive -------------------------------------------------------------------------


@require_GET
def messages(request: HttpRequest) -> HttpResponse:
    """What the city sent, newest first: the page every notification links to."""
    page = Paginator(selectors.broadcasts_public(), ARCHIVE_PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    return render(
        request,
        "notify/public/messages.html",
        {"page": page, "english": _language() == "en"},
    )


@require_GET
def message(request: HttpRequest, broadcast_id: uuid.UUID) -> HttpResponse:
    broadcast = selectors.broadcast_public(broadcast_id)
    if broadcast is None:
        raise Http404("no such message")
    english = _language() == "en" and bool(broadcast.subject_en and broadcast.body_en)
    return render(
        request,
        "notify/public/message.html",
        {"broadcast": broadcast, "english": english, "areas": list(broadcast.areas.all())},
    )


# --- Web Push -----------------------------------------------------------------------------------


@require_GET
def service_worker(request: HttpRequest) -> HttpResponse:
    """The service worker from /notify/, so that its scope may be /notify/."""
    try:
        script = SERVICE_WORKER.read_bytes()
    except FileNotFoundError as exc:
        raise Http404("no service worker") from exc
    response = HttpResponse(script, content_type="application/javascript; charset=utf-8")
    response["Service-Worker-Allowed"] = "/notify/"
    response["Cache-Control"] = "no-cache"
    return response


def _problem(detail: str, *, field: str = "", status: int = 400) -> JsonResponse:
    """An RFC 9457 problem, with the field at fault (what push.js may show)."""
    titles = {400: "Bad Request", 413: "Content Too Large", 429: "Too Many Requests"}
    body: dict[str, Any] = {"status": status, "title": titles.get(status, ""), "detail": detail}
    if field:
        body["field"] = field
    return JsonResponse(body, status=status, content_type="application/problem+json")


def _ids(value: Any, *, field: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list) or len(value) > 500:
        raise NotifyError(_("Send a list."), field=field)
    for item in value:
        if not isinstance(item, str | int) or isinstance(item, bool) or len(str(item)) > 64:
            raise NotifyError(_("Not a known choice."), field=field)
    return value


def _push_topics(value: Any) -> list[Topic]:
    """Topics by id or by key (slug); only those offered."""
    wanted = _ids(value, field="topics")
    offered = list(selectors.topics_offered())
    by_id = {str(topic.pk): topic for topic in offered}
    by_slug = {topic.slug: topic for topic in offered}
    chosen: list[Topic] = []
    for item in wanted:
        topic = by_id.get(str(item)) or by_slug.get(str(item))
        if topic is None:
            raise NotifyError(
                _("Unknown topic: %(topic)s") % {"topic": str(item)[:64]}, field="topics"
            )
        if topic not in chosen:
            chosen.append(topic)
    return chosen


def _push_areas(value: Any) -> list[Area]:
    wanted = [str(item) for item in _ids(value, field="areas")]
    if not all(item.isascii() and item.isdecimal() for item in wanted):
        raise NotifyError(_("Not a known choice."), field="areas")
    areas = list(selectors.areas_offered().filter(pk__in=[int(item) for item in wanted]))
    if len(areas) != len(set(wanted)):
        raise NotifyError(_("Unknown area."), field="areas")
    return areas


@never_cache
@require_POST
def push_subscribe(request: HttpRequest) -> JsonResponse:
    """push.js sends the browser's PushSubscription and the resident's choices (JSON)."""
    ip = client_ip(request) or "?"
    if not ratelimit.hit(
        PUSH_RATE_SCOPE,
        ip,
        limit=_rate_limit("MACHI_NOTIFY_PUSH_RATE_LIMIT", 60),
        window=RATE_WINDOW,
    ):
        response = _problem(_("Too many requests. Try again later."), status=429)
        response["Retry-After"] = str(ratelimit.seconds_left(RATE_WINDOW))
        return response
    if len(request.body) > MAX_JSON_BYTES:
        return _problem(_("The request is too large."), status=413)
    try:
        payload = json.loads(request.body)
    except (ValueError, UnicodeDecodeError):
        return _problem(_("The request is not valid JSON."))
    if not isinstance(payload, dict):
        return _problem(_("The request must be a JSON object."))
    subscription = payload.get("subscription")
    if not isinstance(subscription, dict):
        return _problem(_("The browser's subscription is missing."), field="subscription")
    language = payload.get("language", "ja")
    emergency_only = payload.get("emergency_only", False)
    try:
        if not isinstance(emergency_only, bool):
            raise NotifyError(_("Send true or false."), field="emergency_only")
        choices = services.Choices(
            topics=_push_topics(payload.get("topics")),
            areas=_push_areas(payload.get("areas")),
            language=language if isinstance(language, str) else "",
            emergency_only=emergency_only,
        )
        subscriber = services.subscribe_webpush(subscription=subscription, choices=choices)
    except NotifyError as exc:
        return _problem(str(exc), field=exc.field)
    return JsonResponse({"manage_url": services.manage_url(subscriber)}, status=201)


# --- QR codes for posters -----------------------------------------------------------------------


@require_GET
def qr_code(request: HttpRequest) -> HttpResponse:
    """An SVG QR code: of the LINE account's add-friend link, or of the subscribe page."""
    target = request.GET.get("target", "page")
    if target == "line":
        url = conf.line_friend_url()
        title = _("QR code: add the city's LINE account as a friend")
    elif target == "mail" and inbound.register_address():
        url = f"mailto:{inbound.register_address()}"
        title = _("QR code: write the empty e-mail that registers you")
    elif target == "page":
        url = f"{conf.site_url()}{reverse('notify:subscribe')}?via=qr"
        title = _("QR code: subscribe to the city's notifications")
    else:
        raise Http404("unknown QR code")
    if not url:
        raise Http404("LINE is not configured")
    buffer = io.BytesIO()
    segno.make(url, error="m").save(buffer, kind="svg", scale=8, border=2, title=title)
    response = HttpResponse(buffer.getvalue(), content_type="image/svg+xml")
    response["Cache-Control"] = "public, max-age=3600"
    if request.GET.get("download") == "1":
        response["Content-Disposition"] = f'attachment; filename="notify-qr-{target}.svg"'
    return response
