"""The weather desk's pages (under /console/weather/): JMA warnings, suggestions, alerts of others.

Every member of staff reads them; uploading, adding alerts and deciding on suggestions is HQ's.
The warnings part refreshes itself every 15 seconds with htmx; without JavaScript the page is
the same, as of when it was loaded.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from machi.core import access
from machi.core.roles import Action
from machi.core.views import staff_required
from machi.emergency import selectors, selectors_weather, services, services_weather
from machi.emergency.forms_weather import AlertAddForm, DeclarationRuleForm, JmaUploadForm
from machi.emergency.models import (
    DeclarationRule,
    Disaster,
    IncomingAlert,
    JmaEntry,
    JmaEntryStatus,
    JmaWarning,
    Suggestion,
)

REFRESH_SECONDS = 15
ALERTS_ON_PAGE = 20

FEED_STATUS_LABELS = {
    "ok": gettext_lazy("Read"),
    "not_modified": gettext_lazy("No change (304)"),
    "partial": gettext_lazy("Some messages failed; retried next minute"),
    "error": gettext_lazy("Could not be read"),
    "polling": gettext_lazy("Being polled"),
    "": gettext_lazy("Never polled"),
}
ALERT_STATE_LABELS = {
    "current": gettext_lazy("In effect"),
    "superseded": gettext_lazy("Superseded by an update"),
    "cancelled": gettext_lazy("Cancelled"),
    "expired": gettext_lazy("Expired"),
    "inactive": gettext_lazy("Not an alert in effect"),
}


def _warnings_context(request: HttpRequest) -> dict[str, Any]:
    return {
        "areas": selectors_weather.warnings_by_area(),
        "suggestions": list(selectors_weather.suggestions_open()),
        "can_declare": access.may(request.user, Action.CREATE, Disaster),
        "active_disaster": selectors.disaster_current(),
        "refresh_seconds": REFRESH_SECONDS,
        "now": timezone.localtime(),
    }


def _index(
    request: HttpRequest,
    *,
    upload_form: JmaUploadForm | None = None,
    alert_form: AlertAddForm | None = None,
    status: int = 200,
) -> HttpResponse:
    user = request.user
    feeds = [
        {"feed": feed, "status_label": FEED_STATUS_LABELS.get(feed.last_status, feed.last_status)}
        for feed in selectors_weather.jma_feed_health()
    ]
    alerts = [
        {"view": view, "state_label": ALERT_STATE_LABELS[view.state]}
        for view in selectors_weather.alerts_all(limit=ALERTS_ON_PAGE)
    ]
    context = {
        **_warnings_context(request),
        "feeds": feeds,
        "entries": selectors_weather.jma_entries_recent(),
        "alerts": alerts,
        "can_upload": access.may(user, Action.CREATE, JmaEntry),
        "can_add_alert": access.may(user, Action.CREATE, IncomingAlert),
        "can_read_rules": access.may(user, Action.READ, DeclarationRule),
        "upload_form": upload_form or JmaUploadForm(),
        "alert_form": alert_form or AlertAddForm(),
        "rejected": JmaEntryStatus.REJECTED,
    }
    return render(request, "emergency/weather/index.html", context, status=status)


@staff_required
@require_GET
@never_cache
def index(request: HttpRequest) -> HttpResponse:
    access.require(request.user, Action.READ, JmaWarning)
    access.require(request.user, Action.READ, JmaEntry)
    return _index(request)


@staff_required
@require_GET
@never_cache
def warnings(request: HttpRequest) -> HttpResponse:
    """The warnings part of the page, as htmx asks for it every 15 seconds."""
    access.require(request.user, Action.READ, JmaWarning)
    return render(request, "emergency/weather/_warnings.html", _warnings_context(request))


@staff_required
@require_POST
def upload(request: HttpRequest) -> HttpResponse:
    access.require(request.user, Action.CREATE, JmaEntry)
    form = JmaUploadForm(request.POST, request.FILES)
    if not form.is_valid():
        return _index(request, upload_form=form, status=400)
    for handle in form.cleaned_data["documents"]:
        name = handle.name or ""
        result = services_weather.jma_upload(data=handle.read(), name=name)
        line = f"{name}: {selectors_weather.describe_entry(result.entry)}"
        if result.known:
            line += " " + _("(already stored)")
        if result.entry.status == JmaEntryStatus.REJECTED:
            messages.error(request, line)
        else:
            messages.success(request, line)
    return redirect("weather:index")


def _suggestion(request: HttpRequest, suggestion_id: int) -> Suggestion:
    # Deciding on a suggestion is deciding on a declaration: the right to declare a disaster.
    access.require(request.user, Action.CREATE, Disaster)
    suggestion = selectors_weather.suggestion_by_id(suggestion_id)
    if suggestion is None:
        raise Http404
    return suggestion


@staff_required
@require_POST
def suggestion_declare(request: HttpRequest, suggestion_id: int) -> HttpResponse:
    suggestion = _suggestion(request, suggestion_id)
    try:
        disaster = services_weather.suggestion_declare(
            suggestion=suggestion,
            declared_by=request.user,  # type: ignore[arg-type]
        )
    except (services_weather.WeatherError, services.DisasterError) as exc:
        messages.error(request, str(exc))
        return redirect("weather:index")
    messages.success(request, _("Declared. The responders are at work."))
    return redirect("emergency:disaster", disaster_id=disaster.pk)


@staff_required
@require_POST
def suggestion_dismiss(request: HttpRequest, suggestion_id: int) -> HttpResponse:
    suggestion = _suggestion(request, suggestion_id)
    try:
        services_weather.suggestion_dismiss(
            suggestion=suggestion,
            dismissed_by=request.user,  # type: ignore[arg-type]
        )
    except services_weather.WeatherError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, _("The suggestion was dismissed."))
    return redirect("weather:index")


def alert_error_text(exc: services_weather.AlertError) -> str:
    if exc.line:
        return _("%(reason)s (line %(line)s)") % {"reason": exc.reason, "line": exc.line}
    return exc.reason


@staff_required
@require_POST
def alert_add(request: HttpRequest) -> HttpResponse:
    access.require(request.user, Action.CREATE, IncomingAlert)
    form = AlertAddForm(request.POST, request.FILES)
    if not form.is_valid():
        return _index(request, alert_form=form, status=400)
    who = request.user.get_username()
    try:
        if form.cleaned_data["url"]:
            alert = services_weather.alert_fetch(form.cleaned_data["url"], received_by=who)
        else:
            document = form.cleaned_data["document"]
            alert = services_weather.alert_receive(document.read(), received_by=who)
    except services_weather.AlertError as exc:
        field = "url" if exc.field == "url" else "document"
        form.add_error(field, _("The alert was refused: %(why)s") % {"why": alert_error_text(exc)})
        return _index(request, alert_form=form, status=400)
    messages.success(request, _("The alert was received."))
    return redirect("weather:alert", alert_id=alert.pk)


@staff_required
@require_GET
def alert(request: HttpRequest, alert_id: int) -> HttpResponse:
    view = selectors_weather.alert_by_id(alert_id)
    if view is None:
        raise Http404
    access.require(request.user, Action.READ, view.alert)
    return render(
        request,
        "emergency/weather/alert.html",
        {
            "view": view,
            "alert": view.alert,
            "state_label": ALERT_STATE_LABELS[view.state],
            "parsed": selectors_weather.alert_parsed(view.alert),
        },
    )


@staff_required
@require_http_methods(["GET", "POST"])
def rules(request: HttpRequest) -> HttpResponse:
    access.require(request.user, Action.READ, DeclarationRule)
    can_create = access.may(request.user, Action.CREATE, DeclarationRule)
    form = DeclarationRuleForm(request.POST or None)
    if request.method == "POST":
        if not can_create:
            raise PermissionDenied
        if form.is_valid():
            try:
                services_weather.rule_create(**form.cleaned_data)
            except services_weather.WeatherError as exc:
                form.add_error(None, str(exc))
            else:
                messages.success(request, _("The rule was added."))
                return redirect("weather:rules")
    return render(
        request,
        "emergency/weather/rules.html",
        {
            "form": form,
            "rules": selectors_weather.rules_all(),
            "can_create": can_create,
            "can_update": access.may(request.user, Action.UPDATE, DeclarationRule),
        },
        status=400 if form.errors else 200,
    )


@staff_required
@require_POST
def rule_deactivate(request: HttpRequest, rule_id: int) -> HttpResponse:
    rule = selectors_weather.rule_by_id(rule_id)
    if rule is None:
        raise Http404
    access.require(request.user, Action.UPDATE, rule)
    services_weather.rule_deactivate(rule=rule)
    messages.success(request, _("The rule was turned off."))
    return redirect("weather:rules")
