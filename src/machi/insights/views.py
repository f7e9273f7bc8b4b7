"""Staff pages of the insights room: the figures of a period, their CSV, the assumptions."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.db import transaction
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods

from machi.core import access
from machi.core import services as core_services
from machi.core.forms import SummaryError, form_error_summary
from machi.core.roles import Action
from machi.core.views import staff_required
from machi.insights import charts, exports, selectors, services
from machi.insights.forms import PeriodForm, ProcedureMinutesFormSet, SettingForm
from machi.insights.models import MINUTES
from machi.insights.period import presets
from machi.procedures.models import Procedure


def _charts(figures: selectors.Figures) -> dict[str, Any]:
    apps = figures.applications
    notes = figures.notifications
    return {
        "applications": charts.stacked_columns(
            [b.label for b in apps.bins],
            [
                charts.Series(_("Online"), "online", [b.online for b in apps.bins]),
                charts.Series(_("At the counter"), "counter", [b.counter for b in apps.bins]),
            ],
            title=_("Applications by channel"),
            unit=_("applications"),
        ),
        "hours": charts.share_bars(
            [(row.name, row.out_of_hours_share) for row in [*apps.rows, apps.total]],
            title=_("Share of applications received out of office hours"),
        ),
        "online": charts.share_bars(
            [(row.name, row.online_share) for row in [*apps.rows, apps.total]],
            title=_("Share of applications made online"),
        ),
        "delivery": charts.stacked_columns(
            [b.label for b in notes.buckets],
            [charts.Series(_("Delivered"), "delivered", [b.count for b in notes.buckets])],
            title=_("Time from the start of sending to delivery"),
            unit=_("deliveries"),
            height=200,
        ),
        "wifi": charts.share_bars(
            [(row.name, row.connected_share) for row in figures.wifi.rows],
            title=_("Evacuees' devices on the shelters' Wi-Fi, per disaster"),
        ),
    }


@staff_required
@require_GET
def index(request: HttpRequest) -> HttpResponse:
    access.require(request.user, Action.READ, "insights.figure")
    form = PeriodForm(request.GET)
    context: dict[str, Any] = {
        "form": form,
        "presets": presets(),
        "can_edit": access.may(request.user, Action.UPDATE, "insights.setting"),
        "can_export": access.may(request.user, Action.EXPORT, "insights.figure"),
    }
    if not form.is_valid():
        context["errors"] = form_error_summary(form)
        return render(request, "insights/index.html", context, status=400)
    figures = selectors.figures(form.period)
    context.update(figures=figures, period=figures.period, charts=_charts(figures))
    return render(request, "insights/index.html", context)


@staff_required
@require_GET
def export(request: HttpRequest) -> HttpResponse:
    access.require(request.user, Action.EXPORT, "insights.figure")
    form = PeriodForm(request.GET)
    if not form.is_valid():
        problems = [error.text for error in form_error_summary(form)]
        return HttpResponseBadRequest("\n".join(problems), content_type="text/plain; charset=utf-8")
    figures = selectors.figures(form.period)
    core_services.audit_record(
        action=Action.EXPORT,
        object_type="insights.figure",
        detail={"from": figures.period.start.isoformat(), "to": figures.period.end.isoformat()},
    )
    response = HttpResponse(exports.figures_csv(figures), content_type="text/csv; charset=utf-8")
    name = f"insights-{figures.period.start:%Y%m%d}-{figures.period.end:%Y%m%d}.csv"
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


@staff_required
@require_http_methods(["GET", "POST"])
def settings(request: HttpRequest) -> HttpResponse:
    """The assumptions the figures are computed with: the city's to set."""
    access.require(request.user, Action.UPDATE, "insights.setting")
    setting = selectors.assumptions()
    own = selectors.procedure_minutes()
    defaults = selectors.Minutes.of(setting)
    procedures = list(Procedure.objects.order_by("position", "pk"))
    initial = [
        {
            "procedure": p.pk,
            **dict(zip(MINUTES, _minutes_tuple(own.get(p.pk, defaults)), strict=True)),
        }
        for p in procedures
    ]
    data = request.POST if request.method == "POST" else None
    form = SettingForm(data, instance=setting, prefix="setting")
    minutes = ProcedureMinutesFormSet(data, initial=initial, prefix="procedure")
    if request.method == "POST" and form.is_valid() and minutes.is_valid():
        by = access.user_of(request)
        known = {p.pk for p in procedures}
        with transaction.atomic():
            services.setting_update(
                values={name: form.cleaned_data[name] for name in services.SETTING_FIELDS},
                by=by,
            )
            for row in minutes.forms:
                # Only rows changed here: one left alone keeps following the defaults.
                if row.has_changed() and row.cleaned_data.get("procedure") in known:
                    services.procedure_minutes_update(
                        procedure_id=row.cleaned_data["procedure"],
                        values={name: row.cleaned_data[name] for name in MINUTES},
                        by=by,
                    )
        messages.success(request, _("The assumptions are saved."))
        return redirect("insights:settings")
    errors = form_error_summary(form)
    errors += [SummaryError("#main", str(error)) for error in minutes.non_form_errors()]
    for row, procedure in zip(minutes.forms, procedures, strict=False):
        for error in form_error_summary(row):
            errors.append(SummaryError(error.href, f"{procedure.name}: {error.text}"))
    return render(
        request,
        "insights/settings.html",
        {
            "form": form,
            "minutes": minutes,
            "rows": list(zip(procedures, minutes.forms, strict=False)),
            "own": set(own),
            "errors": errors,
            "setting": setting,
        },
        status=400 if errors else 200,
    )


def _minutes_tuple(minutes: selectors.Minutes) -> tuple[int, int, int, int]:
    return (minutes.travel, minutes.waiting, minutes.counter_staff, minutes.online_staff)
