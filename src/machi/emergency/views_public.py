"""Public pages and documents of the emergency room: 避難情報 and the city's CAP alerts."""

from __future__ import annotations

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET

from machi.core import selectors as core_selectors
from machi.emergency import cap, selectors

CAP_CONTENT_TYPE = "application/cap+xml; charset=utf-8"


@require_GET
def evacuation(request: HttpRequest) -> HttpResponse:
    """避難情報 in force, for residents on a phone: level, hazard, areas. No personal data."""
    response = render(
        request,
        "emergency/public_evacuation.html",
        {
            "orders": selectors.orders_active(),
            "municipality": core_selectors.municipality_current(),
        },
    )
    response["Cache-Control"] = "public, max-age=10"
    return response


@require_GET
def cap_document(request: HttpRequest, identifier: str) -> HttpResponse:
    message = selectors.cap_message(identifier)
    if message is None:
        raise Http404("no such alert")
    response = HttpResponse(message.document.encode("utf-8"), content_type=CAP_CONTENT_TYPE)
    response["Cache-Control"] = "public, max-age=60"  # a published alert never changes
    return response


@require_GET
def cap_feed(request: HttpRequest) -> HttpResponse:
    """The city's alerts as an Atom feed (the interoperable way to publish them)."""
    municipality = core_selectors.municipality_current()
    city = municipality.name if municipality is not None else "Machi"
    messages = list(selectors.cap_messages_recent(limit=100))
    entries = [
        cap.FeedEntry(
            id=request.build_absolute_uri(reverse("emergency_public:cap", args=[m.identifier])),
            title=f"{m.headline}（{m.msg_type}）" if m.msg_type != "Alert" else m.headline,
            updated=m.sent,
            summary=m.headline,
            link=request.build_absolute_uri(reverse("emergency_public:cap", args=[m.identifier])),
            author=city,
        )
        for m in messages
    ]
    body = cap.render_feed(
        feed_id=request.build_absolute_uri(reverse("emergency_public:cap_feed")),
        title=f"{city} 避難情報 (CAP)",
        self_url=request.build_absolute_uri(reverse("emergency_public:cap_feed")),
        updated=messages[0].sent if messages else timezone.now(),
        entries=entries,
        author=city,
    )
    response = HttpResponse(body, content_type="application/atom+xml; charset=utf-8")
    response["Cache-Control"] = "public, max-age=30"
    return response
