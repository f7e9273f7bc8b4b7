"""Public pages of the shelters room: which shelters are open and how crowded (page and CSV),
and residents' self-registration with a QR code to show at the shelter reception.

No account anywhere here. The status carries no personal data; a household sees only its own
registration, found by the code its QR carries (the code is the secret).
"""

from __future__ import annotations

import re
import time
from typing import Any
from zoneinfo import ZoneInfo

import segno
from django import forms
from django.conf import settings
from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse, QueryDict
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.cache import patch_vary_headers
from django.utils.safestring import mark_safe
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods

from machi.core import japanese, ratelimit
from machi.core import selectors as core_selectors
from machi.core import services as core_services
from machi.core.forms import SummaryError, form_error_summary, summary_anchor
from machi.core.middleware import client_ip
from machi.core.roles import Action
from machi.shelters import selectors, services
from machi.shelters.forms_public import (
    MAX_MEMBERS,
    HouseholdForm,
    MemberForm,
    form_values,
    member_formset,
)

JST = ZoneInfo("Asia/Tokyo")

# --- Status of open shelters (開設状況) -------------------------------------------------------

POLL_SECONDS = 30  # htmx polls the list; without JavaScript the page reloads every minute
CROWDING_SYMBOLS = {"vacant": "○", "crowded": "△", "full": "✕"}  # the ○△✕ every resident knows


def _query(request: HttpRequest, **changes: str | None) -> str:
    """The current query string with some parameters changed (None removes one)."""
    query: QueryDict = request.GET.copy()
    for name, value in changes.items():
        if value is None:
            query.pop(name, None)
        else:
            query[name] = value
    encoded = query.urlencode()
    return f"?{encoded}" if encoded else request.path


def _crowding_legend() -> list[dict[str, str]]:
    percent = round(selectors.CROWDED_AT * 100)
    explanations = {
        "vacant": _("Fewer people than %(percent)s%% of the capacity.") % {"percent": percent},
        "crowded": _("%(percent)s%% of the capacity or more.") % {"percent": percent},
        "full": _("No more room: go to another shelter."),
    }
    return [
        {
            "level": level,
            "symbol": CROWDING_SYMBOLS[level],
            "label": str(label),
            "text": explanations[level],
        }
        for level, label in selectors.CROWDING.items()
    ]


@require_GET
def status(request: HttpRequest) -> HttpResponse:
    """Open shelters of the current disaster, for a resident's phone; polled by htmx."""
    disaster = selectors.disaster_for(None)
    rows = selectors.public_status(disaster)
    vacant_only = request.GET.get("vacant") == "1"
    auto_refresh = request.GET.get("auto") != "0"
    shown = [row for row in rows if row.crowding == "vacant"] if vacant_only else rows
    context = {
        "disaster": disaster,
        "rows": shown,
        "open_count": len(rows),
        "vacant_count": sum(row.crowding == "vacant" for row in rows),
        "vacant_only": vacant_only,
        "auto_refresh": auto_refresh,
        "poll_seconds": POLL_SECONDS,
        "now": timezone.now(),
        "legend": _crowding_legend(),
        "all_url": _query(request, vacant=None),
        "toggle_refresh_url": _query(request, auto=None if not auto_refresh else "0"),
    }
    # htmx asks for the list only (hx-select picks it out of a whole page just as well).
    partial = request.headers.get("HX-Request") == "true"
    template = "shelters/public/_status_list.html" if partial else "shelters/public/status.html"
    response = render(request, template, context)
    patch_vary_headers(response, ["HX-Request"])
    return response


# Open data: the column names of the 自治体標準オープンデータセット where one fits, and the
# values in Japanese whatever the page's language (a dataset does not change with the reader).
CSV_HEADER = [
    "全国地方公共団体コード",
    "ID",
    "名称",
    "所在地_連結表記",
    "緯度",
    "経度",
    "開設状況",
    "混雑状況",
    "更新日時",
]
CSV_OPENING = {"open": "開設", "full": "開設"}  # 満員 is in 混雑状況
CSV_CROWDING = {"vacant": "空きあり", "crowded": "混雑", "full": "満員"}


@require_GET
def status_csv(request: HttpRequest) -> HttpResponse:
    municipality = core_selectors.municipality_current()
    lgcode = municipality.lgcode if municipality is not None else ""
    rows = [CSV_HEADER]
    for row in selectors.public_status(selectors.disaster_for(None)):
        rows.append(
            [
                lgcode,
                str(row.shelter_id),
                row.name,
                row.address,
                "" if row.latitude is None else str(row.latitude),
                "" if row.longitude is None else str(row.longitude),
                CSV_OPENING.get(row.status, row.status),
                CSV_CROWDING[row.crowding],
                timezone.localtime(row.updated_at, JST).isoformat(timespec="seconds"),
            ]
        )
    response = HttpResponse(japanese.excel_csv(rows), content_type="text/csv; charset=utf-8")
    filename = f"{lgcode}_shelter_status.csv" if lgcode else "shelter_status.csv"
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


# --- Self-registration (避難者登録) -------------------------------------------------------------

REGISTER_RATE_SCOPE = "shelter-register-ip"
REGISTER_RATE_WINDOW = 60 * 60
MEMBER_FIELD = re.compile(r"^members\[(\d+)\]\.(\w+)$")


def _register_rate_limit() -> int:
    # A shelter's 00000JAPAN puts many residents behind one address: a city may raise this.
    return int(getattr(settings, "MACHI_REGISTER_RATE_LIMIT", 20))


def _service_message(field: str) -> str:
    """A resident-friendly message for a service error (whose own text is for developers)."""
    messages_by_field = {
        "family_name": _("Enter the family name."),
        "birth_date": _("The date of birth is in the future. Check the year."),
        "members": _("Enter at least one person."),
    }
    return messages_by_field.get(field, _("Check this entry."))


def _error_summary(
    household: HouseholdForm, members: forms.BaseFormSet[MemberForm]
) -> list[SummaryError]:
    errors = form_error_summary(household, anchor="#household")
    errors += [SummaryError("#members", str(e)) for e in members.non_form_errors()]
    for form in members.forms:
        person = _("Person %(number)s") % {"number": form.number}
        errors += [
            SummaryError(
                f"#member-{form.number}", _("%(field)s: %(error)s") % {"field": person, "error": e}
            )
            for e in form.non_field_errors()
        ]
        for field in form:
            errors += [
                SummaryError(
                    summary_anchor(field),
                    _("%(person)s, %(field)s: %(error)s")
                    % {"person": person, "field": field.label, "error": e},
                )
                for e in field.errors
            ]
    return errors


def _attach_service_error(
    exc: services.ShelterError, household: HouseholdForm, forms_in_order: list[MemberForm]
) -> None:
    """Put the service's error on the field it names: ``members[1].needs`` → person 2's needs."""
    match = MEMBER_FIELD.match(exc.field)
    if match and int(match[1]) < len(forms_in_order):
        name = match[2]
        form = forms_in_order[int(match[1])]
        form.add_error(name if name in form.fields else None, _service_message(name))
    elif exc.field in household.fields:
        household.add_error(exc.field, _service_message(exc.field))
    else:
        household.add_error(None, _service_message(exc.field))


def _person_input(form: MemberForm) -> services.PersonInput:
    data = form.cleaned_data
    return services.PersonInput(
        family_name=data["family_name"],
        given_name=data["given_name"],
        family_name_kana=data["family_name_kana"],
        given_name_kana=data["given_name_kana"],
        birth_date=data["birth_date"],
        sex=data["sex"],
        needs=data["needs"],
        allergies=data["allergies"],
        needs_note=data["needs_note"],
        language=data["language"],
        consent=dict.fromkeys(data["consent"], True),
    )


def _register_page(
    request: HttpRequest,
    household: HouseholdForm,
    members: forms.BaseFormSet[MemberForm],
    *,
    errors: list[SummaryError] | None = None,
    status: int = 200,
) -> HttpResponse:
    return render(
        request,
        "shelters/public/register.html",
        {
            "household_form": household,
            "members": members,
            "errors": errors or [],
            "can_add": members.total_form_count() < MAX_MEMBERS,
            "max_members": MAX_MEMBERS,
            "disaster": selectors.disaster_for(None),
        },
        status=status,
    )


def _reshaped(request: HttpRequest, household: HouseholdForm, members: Any) -> HttpResponse:
    """ "Add another person" or "remove": the same form again, unvalidated, one block more or less.

    Unbound forms with what was typed as initial values: nothing is checked yet, so no error
    shows on the block the resident has not filled in.
    """
    initial = [form_values(form) for form in members.forms]
    removed = request.POST.get("remove_member", "")
    if removed.isascii() and removed.isdecimal() and 0 <= int(removed) < len(initial):
        del initial[int(removed)]
    extra = 1 if "add_member" in request.POST and len(initial) < MAX_MEMBERS else 0
    reshaped = member_formset(extra=extra)(initial=initial, prefix="members")
    return _register_page(request, HouseholdForm(initial=form_values(household)), reshaped)


def _rate_limited(request: HttpRequest) -> HttpResponse:
    response = render(request, "shelters/public/rate_limited.html", status=429)
    response["Retry-After"] = str(REGISTER_RATE_WINDOW - int(time.time()) % REGISTER_RATE_WINDOW)
    return response


@never_cache  # what a resident typed (health details too) stays out of every cache
@require_http_methods(["GET", "POST"])
def register(request: HttpRequest) -> HttpResponse:
    if request.method == "GET":
        return _register_page(request, HouseholdForm(), member_formset()(prefix="members"))
    household = HouseholdForm(request.POST)
    members = member_formset()(request.POST, prefix="members")
    if "add_member" in request.POST or "remove_member" in request.POST:
        return _reshaped(request, household, members)
    ip = client_ip(request) or "?"
    limit = _register_rate_limit()
    if ratelimit.exceeded(REGISTER_RATE_SCOPE, ip, limit=limit, window=REGISTER_RATE_WINDOW):
        return _rate_limited(request)
    if household.is_valid() and members.is_valid():
        # Blank blocks added by mistake are skipped (an empty extra form has no cleaned data).
        filled: list[MemberForm] = [form for form in members.forms if form.cleaned_data]
        try:
            registered = services.household_register(
                members=[_person_input(form) for form in filled],
                disaster=selectors.disaster_for(None),
                address=household.cleaned_data["address"],
                phone=household.cleaned_data["phone"],
                pets=household.cleaned_data["pets"],
                self_registered=True,
            )
        except services.ShelterError as exc:
            _attach_service_error(exc, household, filled)
        else:
            ratelimit.hit(REGISTER_RATE_SCOPE, ip, limit=limit, window=REGISTER_RATE_WINDOW)
            messages.success(request, _("Registration complete."))
            return redirect("shelters_public:registration", code=registered.code)
    errors = _error_summary(household, members)
    return _register_page(request, household, members, errors=errors, status=400)


@never_cache
@require_GET
def registration(request: HttpRequest, code: str) -> HttpResponse:
    """One household's registration card: the QR code to show at the reception, and the names."""
    household = selectors.household_by_code(code)
    if household is None:
        raise Http404("no registration with this code")
    people = sorted(household.members.all(), key=lambda person: (person.created_at, person.pk))
    # Whoever holds the link reads these names, as an applicant reads their status page: the
    # reads are in the audit log, so a link passed on can be seen to have been used.
    core_services.audit_record(action=Action.READ, record=household, detail={"by": "code"})
    qr = segno.make(household.code, error="m")
    svg = qr.svg_inline(scale=8, title=_("QR code of your registration"))
    response = render(
        request,
        "shelters/public/registration.html",
        {
            "household": household,
            "qr_svg": mark_safe(svg.replace("<svg ", '<svg role="img" ', 1)),  # noqa: S308
            "people": [
                {
                    "name": str(person),
                    "needs": len(person.needs) + len(person.allergies) + bool(person.needs_note),
                }
                for person in people
            ],
        },
    )
    # The address is the key to these names: never send it on to another site.
    response["Referrer-Policy"] = "no-referrer"
    return response
