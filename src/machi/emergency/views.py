"""HQ pages: declare and end disasters, follow what the responders did."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from machi.core import access
from machi.core.roles import Action
from machi.core.views import staff_required
from machi.emergency import selectors, services
from machi.emergency.forms import DeclareForm, EvacuationForm, LiftForm
from machi.emergency.models import Disaster, EvacuationOrder, ResponderRun


@staff_required
def disasters(request: HttpRequest) -> HttpResponse:
    access.require(request.user, Action.READ, Disaster)
    can_declare = access.may(request.user, Action.CREATE, Disaster)
    form = DeclareForm(request.POST or None)
    if request.method == "POST":
        access.require(request.user, Action.CREATE, Disaster)
        if form.is_valid():
            try:
                disaster = services.disaster_declare(
                    name=form.cleaned_data["name"],
                    hazards=form.cleaned_data["hazards"],
                    areas=list(form.cleaned_data["areas"]),
                    started_at=form.cleaned_data["started_at"],
                    is_exercise=form.cleaned_data["is_exercise"],
                    declared_by=request.user,  # type: ignore[arg-type]
                )
            except services.DisasterError as exc:
                form.add_error(None, str(exc))
            else:
                messages.success(request, _("Declared. The responders are at work."))
                return redirect("emergency:disaster", disaster_id=disaster.pk)
    return render(
        request,
        "emergency/disasters.html",
        {
            "form": form,
            "can_declare": can_declare,
            "active": selectors.disasters_active(),
            "past": selectors.disasters_all().filter(ended_at__isnull=False)[:20],
        },
        status=400 if form.errors else 200,
    )


@staff_required
def disaster(request: HttpRequest, disaster_id: int) -> HttpResponse:
    found = get_object_or_404(Disaster, pk=disaster_id)
    access.require(request.user, Action.READ, found)
    runs = (
        selectors.responder_runs(found)
        if access.may(request.user, Action.READ, ResponderRun)
        else []
    )
    return render(
        request,
        "emergency/disaster.html",
        {
            "disaster": found,
            "runs": runs,
            "can_end": found.is_active and access.may(request.user, Action.UPDATE, found),
        },
    )


@staff_required
@require_POST
def disaster_end(request: HttpRequest, disaster_id: int) -> HttpResponse:
    found = get_object_or_404(Disaster, pk=disaster_id)
    access.require(request.user, Action.UPDATE, found)
    try:
        services.disaster_end(disaster=found, ended_by=request.user)  # type: ignore[arg-type]
    except services.DisasterError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, _("The disaster has ended. Open shelters are being closed."))
    return redirect("emergency:disaster", disaster_id=found.pk)


@staff_required
@require_POST
def responder_retry(request: HttpRequest, run_id: int) -> HttpResponse:
    run = get_object_or_404(ResponderRun, pk=run_id)
    access.require(request.user, Action.UPDATE, run.disaster)
    services.responder_retry(run=run)
    messages.success(request, _("Running again."))
    return redirect("emergency:disaster", disaster_id=run.disaster_id)


# --- 避難情報 ----------------------------------------------------------------------------------


@staff_required
def evacuation(request: HttpRequest) -> HttpResponse:
    """HQ issues and lifts 避難情報; everyone on staff sees what is in force."""
    access.require(request.user, Action.READ, EvacuationOrder)
    can_issue = access.may(request.user, Action.CREATE, EvacuationOrder)
    form = EvacuationForm(request.POST or None)
    if request.method == "POST":
        access.require(request.user, Action.CREATE, EvacuationOrder)
        if form.is_valid():
            try:
                order = services.evacuation_issue(
                    level=form.cleaned_data["level"],
                    hazard=form.cleaned_data["hazard"],
                    areas=list(form.cleaned_data["areas"]),
                    whole_city=form.cleaned_data["whole_city"],
                    note=form.cleaned_data["note"],
                    issued_by=request.user,  # type: ignore[arg-type]
                )
            except services.DisasterError as exc:
                form.add_error(None, str(exc))
            else:
                messages.success(
                    request,
                    _("Issued: %(order)s. Published as CAP %(id)s.")
                    % {"order": order.get_level_display(), "id": order.cap_identifier},
                )
                return redirect("emergency:evacuation")
    active = selectors.orders_active()
    return render(
        request,
        "emergency/evacuation.html",
        {
            "form": form,
            "can_issue": can_issue,
            "active": [(order, LiftForm(order=order)) for order in active],
            "recent": selectors.orders_recent(),
        },
        status=400 if form.errors else 200,
    )


@staff_required
@require_POST
def evacuation_lift(request: HttpRequest, order_id: int) -> HttpResponse:
    order = get_object_or_404(EvacuationOrder, pk=order_id)
    access.require(request.user, Action.UPDATE, order)
    form = LiftForm(request.POST, order=order)
    if not form.is_valid():
        messages.error(request, _("Choose areas of this evacuation information."))
        return redirect("emergency:evacuation")
    chosen = list(form.cleaned_data["areas"])
    try:
        services.evacuation_lift(
            order=order,
            lifted_by=request.user,  # type: ignore[arg-type]
            areas=chosen or None,
        )
    except services.DisasterError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, _("Lifted (解除). The CAP alert has been published."))
    return redirect("emergency:evacuation")
