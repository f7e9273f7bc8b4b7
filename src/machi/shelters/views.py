"""Staff pages of shelter operations: each shelter's desk, and HQ's dashboard."""

from __future__ import annotations

import uuid
from typing import Any

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from machi.core import access, japanese
from machi.core import services as core_services
from machi.core.roles import Action
from machi.core.views import staff_required
from machi.emergency import selectors as emergency_selectors
from machi.shelters import exports, selectors, services
from machi.shelters.forms import (
    CodeCheckinForm,
    PersonEditForm,
    QuickRegisterForm,
    SearchForm,
    SupplyForm,
)
from machi.shelters.models import (
    Checkin,
    CheckinSource,
    Opening,
    OpeningStatus,
    Person,
    StayType,
    SupplyRequest,
    SupplyStatus,
)

DASHBOARD = "shelters.dashboard"


def _opening(request: HttpRequest, opening_id: int, action: str = Action.READ) -> Opening:
    opening = get_object_or_404(
        Opening.objects.select_related("shelter__facility", "disaster"), pk=opening_id
    )
    access.require(request.user, action, opening)
    return opening


@staff_required
def index(request: HttpRequest) -> HttpResponse:
    disaster = selectors.disaster_for(_int(request.GET.get("disaster")))
    if disaster is not None and access.may(request.user, Action.READ, DASHBOARD):
        return redirect(f"{_url('shelters:dashboard')}?disaster={disaster.pk}")
    openings = selectors.openings_for(request.user, disaster)
    return render(request, "shelters/index.html", {"disaster": disaster, "openings": openings})


def _int(value: str | None) -> int | None:
    if not value or not value.isascii() or not value.isdecimal() or len(value) > 18:
        return None
    return int(value)


def _url(name: str, **kwargs: Any) -> str:
    from django.urls import reverse

    return reverse(name, kwargs=kwargs or None)


@staff_required
def dashboard(request: HttpRequest) -> HttpResponse:
    access.require(request.user, Action.READ, DASHBOARD)
    disaster = selectors.disaster_for(_int(request.GET.get("disaster")))
    board = selectors.hq_dashboard_shared(disaster) if disaster is not None else None
    # HQ's dashboard shows the emergency room's picture beside the shelters (避難情報, JMA
    # warnings, incidents, tasks, the chronology); staff who may not read them see shelters only.
    overview = (
        emergency_selectors.hq_overview(disaster)
        if access.may(request.user, Action.READ, "emergency.chronologyentry")
        and access.may(request.user, Action.READ, "emergency.incident")
        else None
    )
    if request.headers.get("HX-Request"):
        return render(
            request,
            "shelters/_dashboard.html",
            {
                "disaster": disaster,
                "board": board,
                "overview": overview,
                "now": timezone.localtime(),
                "opening_url": _url("shelters:index") + "openings/",
            },
        )
    points = [
        {
            "name": str(row.opening.shelter),
            "latitude": _coordinate(row.opening.shelter.facility.latitude),
            "longitude": _coordinate(row.opening.shelter.facility.longitude),
            "status": row.opening.status if row.opening.status != "open" else row.crowding,
            "label": f"{row.opening.get_status_display()} {row.opening.occupancy}"
            + (f"/{row.opening.capacity}" if row.opening.capacity else ""),
            "url": _url("shelters:opening", opening_id=row.opening.pk),
        }
        for row in (board.rows if board else [])
    ]
    return render(
        request,
        "shelters/dashboard.html",
        {
            "disaster": disaster,
            "board": board,
            "overview": overview,
            "now": timezone.localtime(),
            "points": points,
            "map_id": "opening-points",
            "opening_url": _url("shelters:index") + "openings/",
        },
    )


def _coordinate(value: object) -> str | None:
    return None if value is None else str(value)


@staff_required
def opening(request: HttpRequest, opening_id: int) -> HttpResponse:
    found = _opening(request, opening_id)
    checkins = list(selectors.roster(request.user, found))
    core_services.audit_record(
        action=Action.READ,
        record=found,
        detail={"roster": len(checkins), "persons": [str(c.person_id) for c in checkins]},
    )
    search = SearchForm(request.GET or None)
    results: list[Person] = []
    if request.GET and search.is_valid():
        results = selectors.persons_search(
            request.user,
            query=search.cleaned_data["q"],
            birth_date=search.cleaned_data["birth_date"],
        )
        core_services.audit_record_many(action=Action.READ, records=results)
    counts = _counts(checkins)
    return render(
        request,
        "shelters/opening.html",
        {
            "opening": found,
            "checkins": checkins,
            "counts": counts,
            "code_form": CodeCheckinForm(),
            "register_form": QuickRegisterForm(),
            "search_form": search,
            "results": results,
            "supply_form": SupplyForm(),
            "supplies": SupplyRequest.objects.filter(opening=found).order_by("-requested_at")[:50],
            "can_update": access.may(request.user, Action.UPDATE, found),
            "can_advance": access.may(request.user, Action.UPDATE, SupplyRequest)
            and access.may(request.user, Action.READ, DASHBOARD),
            "crowding": selectors.crowding(found),
            "day_night": selectors.presence_by_day_night(found),
        },
    )


def _counts(checkins: list[Checkin]) -> dict[str, int]:
    return {
        "present": len(checkins),
        "needs": sum(1 for c in checkins if c.person.needs),
        "conflicts": sum(1 for c in checkins if c.conflict),
        "households": len({c.person.household_id for c in checkins}),
    }


def _back(found: Opening) -> HttpResponse:
    return redirect("shelters:opening", opening_id=found.pk)


@staff_required
@require_POST
def checkin_code(request: HttpRequest, opening_id: int) -> HttpResponse:
    found = _opening(request, opening_id, Action.UPDATE)
    form = CodeCheckinForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Scan or type a registration code."))
        return _back(found)
    household = selectors.household_by_code(form.cleaned_data["code"])
    if household is None:
        messages.error(request, _("No registration has this code. Search by name instead."))
        return _back(found)
    try:
        results = services.checkin_household(
            checkin_id=uuid.uuid4(),
            household=household,
            disaster=found.disaster,
            opening=found,
            source=CheckinSource.QR,
        )
    except services.ShelterError as exc:
        messages.error(request, str(exc))
        return _back(found)
    names = "、".join(str(r.checkin.person) for r in results)
    messages.success(request, _("Checked in: %(names)s") % {"names": names})
    if any(r.checkin.conflict for r in results):
        messages.warning(request, _("Also checked in at another shelter: HQ has been alerted."))
    return _back(found)


@staff_required
@require_POST
def checkin_person(request: HttpRequest, opening_id: int, person_id: uuid.UUID) -> HttpResponse:
    found = _opening(request, opening_id, Action.UPDATE)
    person = get_object_or_404(Person, pk=person_id)
    if not selectors.may_check_in(request.user, person):
        raise PermissionDenied(_("This person stays at another shelter."))
    try:
        result = services.checkin_create(
            checkin_id=uuid.uuid4(), person=person, disaster=found.disaster, opening=found
        )
    except services.ShelterError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, _("Checked in: %(names)s") % {"names": person})
        if result.checkin.conflict:
            messages.warning(request, _("Also checked in at another shelter: HQ has been alerted."))
    return _back(found)


@staff_required
@require_POST
def register(request: HttpRequest, opening_id: int) -> HttpResponse:
    found = _opening(request, opening_id, Action.UPDATE)
    access.require(request.user, Action.CREATE, Person)
    form = QuickRegisterForm(request.POST)
    if form.is_valid():
        data = form.cleaned_data
        stay = data.pop("stay_type")
        try:
            at_shelter = stay in {StayType.SHELTER, StayType.WELFARE, StayType.INTERIM}
            if not at_shelter and not selectors.may_record_outside_shelters(request.user):
                raise services.ShelterError(_("Stays outside shelters are recorded by HQ."))
            with transaction.atomic():  # a new person and their check-in, or neither
                household = services.household_register(
                    members=[services.PersonInput(**data)], disaster=found.disaster
                )
                person = household.members.get()
                services.checkin_create(
                    checkin_id=uuid.uuid4(),
                    person=person,
                    disaster=found.disaster,
                    opening=found if at_shelter else None,
                    stay_type=stay,
                )
        except services.ShelterError as exc:
            form.add_error(None, str(exc))
        else:
            messages.success(request, _("Registered and checked in: %(names)s") % {"names": person})
            return _back(found)
    problems = "; ".join(
        f"{form.fields[name].label if name in form.fields else ''} {error}".strip()
        for name, errors in form.errors.items()
        for error in errors
    )
    messages.error(
        request, _("The person could not be registered: %(errors)s") % {"errors": problems}
    )
    return _back(found)


@staff_required
@require_POST
def checkout(request: HttpRequest, opening_id: int, checkin_id: uuid.UUID) -> HttpResponse:
    found = _opening(request, opening_id, Action.UPDATE)
    stay = get_object_or_404(Checkin, pk=checkin_id, opening=found)
    services.checkout(checkin=stay)
    messages.success(request, _("Checked out: %(names)s") % {"names": stay.person})
    return _back(found)


@staff_required
def transfer(request: HttpRequest, opening_id: int, checkin_id: uuid.UUID) -> HttpResponse:
    """Move a person from this shelter to another open one (GET: choose, POST: move)."""
    found = _opening(request, opening_id, Action.UPDATE)
    stay = get_object_or_404(Checkin.objects.select_related("person"), pk=checkin_id, opening=found)
    targets = [o for o in selectors.openings_live(found.disaster) if o.pk != found.pk]
    error = ""
    if request.method == "POST":
        target = next((o for o in targets if str(o.pk) == request.POST.get("to")), None)
        if target is None:
            error = _("Choose the shelter the person moves to.")
        else:
            try:
                services.transfer(checkin=stay, to_opening=target, new_id=uuid.uuid4())
            except services.ShelterError as exc:
                error = str(exc)
            else:
                messages.success(
                    request,
                    _("%(name)s moved to %(shelter)s.")
                    % {"name": stay.person, "shelter": target.shelter},
                )
                return _back(found)
    if request.method == "GET":
        core_services.audit_record(
            action=Action.READ, record=stay.person, detail={"transfer": True}
        )
    return render(
        request,
        "shelters/transfer.html",
        {"opening": found, "stay": stay, "targets": targets, "error": error},
        status=400 if error else 200,
    )


@staff_required
@require_POST
def set_status(request: HttpRequest, opening_id: int) -> HttpResponse:
    found = _opening(request, opening_id, Action.UPDATE)
    wanted = request.POST.get("status", "")
    reopening = found.status in {OpeningStatus.PREPARING, OpeningStatus.CLOSED}
    if wanted == OpeningStatus.OPEN and reopening:
        access.require(request.user, Action.CREATE, Opening)
        services.opening_open(shelter=found.shelter, disaster=found.disaster)
    elif wanted in {OpeningStatus.FULL, OpeningStatus.OPEN}:
        services.opening_set_full(opening=found, full=wanted == OpeningStatus.FULL)
    elif wanted == OpeningStatus.CLOSED:
        services.opening_close(opening=found)
    else:
        messages.error(request, _("Unknown status."))
        return _back(found)
    messages.success(request, _("Status changed."))
    if request.POST.get("next") == "dashboard":
        return redirect(f"{_url('shelters:dashboard')}?disaster={found.disaster_id}")
    return _back(found)


@staff_required
@require_POST
def supply_create(request: HttpRequest, opening_id: int) -> HttpResponse:
    found = _opening(request, opening_id, Action.UPDATE)
    access.require(request.user, Action.CREATE, SupplyRequest)
    form = SupplyForm(request.POST)
    if form.is_valid():
        services.supply_request(opening=found, **form.cleaned_data)
        messages.success(request, _("Request sent to HQ."))
    else:
        messages.error(request, _("Check the request: item and a quantity of at least 1."))
    return _back(found)


@staff_required
@require_POST
def supply_advance(request: HttpRequest, request_id: int) -> HttpResponse:
    supply = get_object_or_404(SupplyRequest.objects.select_related("opening"), pk=request_id)
    access.require(request.user, Action.UPDATE, supply)
    access.require(request.user, Action.READ, DASHBOARD)
    try:
        services.supply_advance(request=supply, status=request.POST.get("status", ""))
    except (services.ShelterError, ValueError) as exc:
        messages.error(request, str(exc))
    target = request.POST.get("next_url", "")
    if not url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
        target = _url("shelters:supplies")
    return redirect(target)


@staff_required
def supplies(request: HttpRequest) -> HttpResponse:
    access.require(request.user, Action.READ, DASHBOARD)
    disaster = selectors.disaster_for(_int(request.GET.get("disaster")))
    open_requests = SupplyRequest.objects.filter(
        opening__disaster=disaster, status__in=[SupplyStatus.REQUESTED, SupplyStatus.APPROVED]
    ).select_related("opening__shelter__facility")
    return render(
        request, "shelters/supplies.html", {"disaster": disaster, "requests": open_requests}
    )


# --- Exports ------------------------------------------------------------------------------------


def _download(content: bytes, name: str, content_type: str) -> HttpResponse:
    response = HttpResponse(content, content_type=content_type)
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    response["Cache-Control"] = "no-store"
    return response


@staff_required
def roster_csv(request: HttpRequest, opening_id: int) -> HttpResponse:
    found = _opening(request, opening_id, Action.EXPORT)
    checkins = list(selectors.roster(request.user, found))
    core_services.audit_record_many(action=Action.EXPORT, records=[c.person for c in checkins])
    stamp = timezone.localtime().strftime("%Y%m%d-%H%M")
    return _download(
        exports.roster_csv(checkins, with_health=True),
        f"roster-{found.pk}-{stamp}.csv",
        "text/csv; charset=utf-8",
    )


@staff_required
def roster_pdf(request: HttpRequest, opening_id: int) -> HttpResponse:
    found = _opening(request, opening_id, Action.EXPORT)
    checkins = list(selectors.roster(request.user, found))
    core_services.audit_record_many(action=Action.EXPORT, records=[c.person for c in checkins])
    stamp = timezone.localtime().strftime("%Y%m%d-%H%M")
    return _download(
        exports.roster_pdf(found, checkins), f"roster-{found.pk}-{stamp}.pdf", "application/pdf"
    )


@staff_required
def anpi_csv(request: HttpRequest) -> HttpResponse:
    """The 安否情報 list of a disaster: only consented items, for those answering inquiries."""
    access.require(request.user, Action.EXPORT, "shelters.anpi")
    disaster = selectors.disaster_for(_int(request.GET.get("disaster")))
    stays = (
        Checkin.objects.filter(disaster=disaster, checked_out_at__isnull=True)
        .select_related("person", "opening__shelter__facility")
        .order_by("person__kana_key")
    )
    pairs = [(stay.person, stay) for stay in stays]
    rows = exports.anpi_rows(pairs)
    core_services.audit_record(
        action=Action.EXPORT, object_type="shelters.anpi", detail={"rows": len(rows) - 1}
    )
    disclosed = [person for person, _ in pairs if (person.consent or {}).get("name")]
    core_services.audit_record_many(action=Action.EXPORT, records=disclosed)
    stamp = timezone.localtime().strftime("%Y%m%d-%H%M")
    return _download(japanese.excel_csv(rows), f"anpi-{stamp}.csv", "text/csv; charset=utf-8")


@staff_required
def person_edit(request: HttpRequest, opening_id: int, person_id: uuid.UUID) -> HttpResponse:
    """Correct or complete the record of someone staying at this shelter."""
    found = _opening(request, opening_id, Action.UPDATE)
    person = get_object_or_404(Person, pk=person_id)
    here = Checkin.objects.filter(person=person, opening=found, checked_out_at__isnull=True)
    if not access.reaches_all(request.user, Action.UPDATE, Person) and not here.exists():
        raise PermissionDenied(_("This person does not stay at this shelter."))
    fields = list(PersonEditForm.base_fields)
    initial = {name: getattr(person, name) for name in fields}
    form = PersonEditForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        data = dict(form.cleaned_data)
        try:
            services.person_update(
                person=person,
                data=services.PersonInput(**data, consent=person.consent),
            )
        except services.ShelterError as exc:
            form.add_error(exc.field or None, str(exc))
        else:
            messages.success(request, _("Saved: %(name)s") % {"name": person})
            return _back(found)
    if request.method == "GET":
        core_services.audit_record(action=Action.READ, record=person, detail={"edit": True})
    return render(
        request,
        "shelters/person_edit.html",
        {"opening": found, "person": person, "form": form},
        status=400 if form.errors else 200,
    )
