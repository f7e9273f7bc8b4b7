"""Staff pages of the recovery room (被災者支援): the 被災者台帳, households, damage surveys,
罹災証明書 (one by one and in bulk) and the rule tables.

Recovery staff work here; HQ and auditors read; the counter receives applications for the
certificate and hands them out (it sees a household's name, address and certificate, not the
rest of the ledger); surveyors of other departments (FIELD) record surveys. Every page that
shows the ledger's personal data writes READ events to the audit log, as the API does.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any, cast

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db import transaction
from django.db.models import Count, Q, QuerySet, Sum
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import urlencode
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, pgettext_lazy
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from machi.core import access
from machi.core import services as core_services
from machi.core.models import User
from machi.core.roles import Action
from machi.core.views import staff_required
from machi.emergency import selectors as emergency_selectors
from machi.emergency.models import Disaster
from machi.recovery import certificates, grants, ledger, rules, services
from machi.recovery.forms import (
    GRANT_STATUS_ACTIONS,
    METHOD_LABELS,
    REBUILD_LABELS,
    ApplicationForm,
    GrantForm,
    HouseholdForm,
    LedgerFilterForm,
    MemberFormSet,
    ReissueForm,
    RuleTableForm,
    SupportForm,
    SurveyForm,
    explain,
    member_summary,
    new_ids,
    put_error,
    shown_inputs,
    summary,
)
from machi.recovery.models import (
    ROUND_ORDER,
    ApplicationStatus,
    Certificate,
    CertificateApplication,
    GrantApplication,
    GrantStatus,
    House,
    IssueBatch,
    LedgerHousehold,
    ResurveyRequest,
    RuleSet,
    Sharing,
    Support,
    Survey,
    SurveyRound,
)
from machi.recovery.services import RecoveryError

PAGE_SIZE = 50
DOUBLE_SUBMIT_MINUTES = 10
HEAD = ledger.HEAD

# The application's status in the certificate's words ("Issued" alone is an evacuation order's).
APPLICATION_LABELS = {
    ApplicationStatus.APPLIED: pgettext_lazy("certificate", "Applied"),
    ApplicationStatus.REVIEWED: pgettext_lazy("certificate", "Reviewed"),
    ApplicationStatus.ISSUED: pgettext_lazy("certificate", "Issued"),
    ApplicationStatus.REJECTED: pgettext_lazy("certificate", "Rejected"),
}
NOT_APPLIED = gettext_lazy("Not applied for")


def _user(request: HttpRequest) -> User:
    return cast(User, request.user)


_by = access.user_of


def _links(request: HttpRequest) -> dict[str, Any]:
    """The room's own menu: the entries this person may use."""
    user = request.user
    may_ledger = access.may(user, Action.READ, LedgerHousehold)
    return {
        "may_ledger": may_ledger,
        "may_index": may_ledger or access.may(user, Action.CREATE, CertificateApplication),
        "may_add_household": access.may(user, Action.CREATE, LedgerHousehold),
        "may_survey": access.may(user, Action.CREATE, Survey),
        "may_bulk": access.may(user, Action.READ, IssueBatch),
        "may_rules": access.may(user, Action.READ, RuleSet),
    }


def _int(value: str | None) -> int | None:
    return (
        int(value) if value and value.isascii() and value.isdecimal() and len(value) < 12 else None
    )


def _uuid(value: str | None) -> uuid.UUID | None:
    try:
        return uuid.UUID(value) if value else None
    except ValueError:
        return None


def _default_disaster() -> Disaster | None:
    """The current disaster; in normal times the latest one (recovery goes on for years)."""
    return emergency_selectors.disaster_current() or emergency_selectors.disasters_all().first()


def _disaster(raw: str | None) -> Disaster | None:
    chosen = _int(raw)
    found = Disaster.objects.filter(pk=chosen).first() if chosen is not None else None
    return found or _default_disaster()


def _house(raw: str | None) -> House | None:
    found = _uuid(raw)
    return House.objects.filter(pk=found).first() if found is not None else None


# --- The ledger (被災者台帳) --------------------------------------------------------------------


def _deciding(surveys: list[Survey]) -> dict[uuid.UUID, Survey]:
    """Each house's deciding survey (as services.damage_of, for many houses at once)."""
    found: dict[uuid.UUID, Survey] = {}
    for survey in surveys:
        key = (ROUND_ORDER[SurveyRound(survey.round)], survey.recorded_at)
        current = found.get(survey.house_id)
        if current is None or key > (ROUND_ORDER[SurveyRound(current.round)], current.recorded_at):
            found[survey.house_id] = survey
    return found


def _application_label(application: CertificateApplication | None) -> str:
    if application is None:
        return str(NOT_APPLIED)
    return str(APPLICATION_LABELS.get(ApplicationStatus(application.status), application.status))


def _ledger_rows(households: list[LedgerHousehold], disaster: Disaster) -> list[dict[str, Any]]:
    ids = [h.pk for h in households]
    houses = {h.house_id for h in households if h.house_id}
    deciding = _deciding(list(Survey.objects.filter(disaster=disaster, house_id__in=houses)))
    applications = {
        a.household_id: a
        for a in CertificateApplication.objects.filter(household_id__in=ids).select_related(
            "certificate"
        )
    }
    grants_of: dict[int, list[GrantApplication]] = {}
    for grant in GrantApplication.objects.filter(household_id__in=ids).order_by("pk"):
        grants_of.setdefault(grant.household_id, []).append(grant)
    rows = []
    for household in households:
        application = applications.get(household.pk)
        certificate = getattr(application, "certificate", None) if application else None
        survey = deciding.get(household.house_id) if household.house_id else None
        rows.append(
            {
                "household": household,
                "damage_class": (
                    certificate.damage_class
                    if certificate
                    else survey.damage_class
                    if survey
                    else ""
                ),
                "from_certificate": certificate is not None,
                "application": application,
                "certificate_label": _application_label(application),
                "grants": grants_of.get(household.pk, []),
            }
        )
    return rows


def _counts(disaster: Disaster) -> dict[str, Any]:
    paid = GrantApplication.objects.filter(disaster=disaster, status=GrantStatus.PAID).aggregate(
        n=Count("pk"), total=Sum("amount")
    )
    return {
        "households": LedgerHousehold.objects.filter(disaster=disaster).count(),
        "surveyed": LedgerHousehold.objects.filter(
            disaster=disaster, house__surveys__disaster=disaster
        )
        .values("pk")
        .distinct()
        .count(),
        "issued": Certificate.objects.filter(application__disaster=disaster).count(),
        "paid": paid["n"],
        "paid_total": paid["total"] or 0,
    }


def _search(households: QuerySet[LedgerHousehold], query: str) -> QuerySet[LedgerHousehold]:
    for word in query.split():
        households = households.filter(
            Q(head_name__icontains=word)
            | Q(address__icontains=word)
            | Q(household_number=word)
            | Q(members__name__icontains=word)
            | Q(members__name_kana__icontains=word)
        )
    return households.distinct()


@staff_required
@require_GET
def index(request: HttpRequest) -> HttpResponse:
    """The 被災者台帳 of a disaster. The counter finds a household by its name here to receive
    an application (only the name, address and certificate are shown to it)."""
    user = request.user
    reads_ledger = access.may(user, Action.READ, LedgerHousehold)
    counter = not reads_ledger and access.may(user, Action.CREATE, CertificateApplication)
    if not (reads_ledger or counter):
        raise PermissionDenied("read on recovery.ledgerhousehold is not allowed")
    disaster = _disaster(request.GET.get("disaster"))
    form = LedgerFilterForm(
        {"disaster": disaster.pk if disaster else "", "q": request.GET.get("q", "")}
    )
    query = form.cleaned_data.get("q", "") if form.is_valid() else ""
    context: dict[str, Any] = {
        **_links(request),
        "form": form,
        "disaster": disaster,
        "query_text": query,
        "counter": counter,
    }
    if disaster is not None:
        households = LedgerHousehold.objects.filter(disaster=disaster).select_related("house")
        if query:
            households = _search(households, query)
        elif counter:
            households = households.none()  # the counter looks a household up by name
        page = Paginator(households.order_by("pk"), PAGE_SIZE).get_page(request.GET.get("page"))
        shown = list(page.object_list)
        core_services.audit_record_many(action=Action.READ, records=shown)
        reports = [
            (
                name,
                f"/api/v1/recovery/reports/{name}?disaster_id={disaster.pk}&format=csv",
            )
            for name in ("households-by-class", "certificates-per-day", "grants-by-status")
        ]
        context.update(
            {
                "page": page,
                "rows": _ledger_rows(shown, disaster),
                "counts": _counts(disaster),
                "query": urlencode({"disaster": disaster.pk, **({"q": query} if query else {})}),
                "reports": reports if reads_ledger else [],
                "payments_csv": (
                    f"/api/v1/recovery/grants/payments.csv?disaster_id={disaster.pk}"
                    if access.may(user, Action.EXPORT, GrantApplication)
                    else ""
                ),
            }
        )
    return render(request, "recovery/index.html", context)


# --- A new household ----------------------------------------------------------------------------


def _people(formset: Any, head_name: str) -> tuple[list[ledger.PersonInput], list[int]]:
    """The rows filled in, and the row each came from (for the service's errors). Nobody
    listed: the head alone."""
    people: list[ledger.PersonInput] = []
    rows: list[int] = []
    for index, form in enumerate(formset.forms):
        data = form.cleaned_data
        if not any(data.get(f) for f in ("name", "name_kana", "birth_date", "sex", "relationship")):
            continue
        people.append(
            ledger.PersonInput(
                name=data.get("name", ""),
                name_kana=data.get("name_kana", ""),
                birth_date=data.get("birth_date"),
                sex=data.get("sex", ""),
                relationship=data.get("relationship", ""),
            )
        )
        rows.append(index)
    if not people and head_name.strip():
        people.append(ledger.PersonInput(name=head_name.strip(), relationship=HEAD))
    return people, rows


def _sent_twice(
    disaster: Disaster, data: dict[str, Any], house_id: uuid.UUID | None, by: User | None
) -> LedgerHousehold | None:
    """The household this same form entered a moment ago (a double tap, a retry): the same
    person entering the same head at the same address and house within minutes."""
    if not data["head_name"].strip():
        return None
    same = LedgerHousehold.objects.filter(
        disaster=disaster,
        created_by=by,
        head_name=data["head_name"].strip(),
        address=data["address"].strip(),
        created_at__gte=timezone.now() - dt.timedelta(minutes=DOUBLE_SUBMIT_MINUTES),
    )
    same = same.filter(house_id=house_id) if house_id else same.filter(house__isnull=True)
    return same.order_by("-pk").first()


def _member_error(form: HouseholdForm, formset: Any, exc: RecoveryError, rows: list[int]) -> None:
    """members[2].name → the name on the third row filled in."""
    if exc.field.startswith("members[") and "]." in exc.field:
        index, _dot, name = exc.field[len("members[") :].partition("].")
        position = _int(index)
        if position is not None and position < len(rows):
            target = formset.forms[rows[position]]
            target.add_error(name if name in target.fields else None, explain(exc))
            return
    put_error(form, exc)


@staff_required
@require_http_methods(["GET", "POST"])
def household_new(request: HttpRequest) -> HttpResponse:
    """Enter a household: from the resident register by 世帯番号, or by hand; its house too."""
    access.require(request.user, Action.CREATE, LedgerHousehold)
    source = request.POST if request.method == "POST" else request.GET
    house = _house(source.get("house"))
    if house is not None:
        access.require(request.user, Action.READ, house)
    if request.method == "GET":
        disaster = _disaster(request.GET.get("disaster"))
        form = HouseholdForm(
            house_fixed=house is not None,
            initial={"disaster": disaster, "house_token": uuid.uuid4(), "house_storeys": 1},
        )
        formset = MemberFormSet(prefix="members")
        return _household_new_page(request, form, formset, house)
    form = HouseholdForm(request.POST, house_fixed=house is not None)
    formset = MemberFormSet(request.POST, prefix="members")
    if form.is_valid() and formset.is_valid():
        data = form.cleaned_data
        disaster = data["disaster"]
        number = data["household_number"].strip()
        by = _by(request)
        known = (
            LedgerHousehold.objects.filter(disaster=disaster, household_number=number).first()
            if number
            else _sent_twice(
                disaster,
                data,
                house.pk if house else data["house_token"] if form.wants_house else None,
                by,
            )
        )
        if known is not None:
            messages.info(request, _("This household is already in the ledger."))
            return redirect("recovery:household", household_id=known.pk)
        people, rows = _people(formset, data["head_name"])
        home = house
        try:
            with transaction.atomic():
                if home is None and form.wants_house:
                    access.require(request.user, Action.CREATE, House)
                    try:
                        home = services.house_register(
                            house_id=data["house_token"],
                            address=data["house_address"],
                            structure=data["house_structure"],
                            storeys=data["house_storeys"] or 1,
                        )
                    except RecoveryError as exc:
                        put_error(
                            form,
                            exc,
                            rename={f: f"house_{f}" for f in ("address", "structure", "storeys")},
                        )
                        raise
                if number:
                    household = ledger.household_from_register(
                        disaster=disaster, household_number=number, house=home, by=by
                    )
                else:
                    household = ledger.household_by_hand(
                        disaster=disaster,
                        head_name=data["head_name"],
                        address=data["address"],
                        members=people,
                        house=home,
                        by=by,
                    )
        except RecoveryError as exc:
            if not form.errors:
                _member_error(form, formset, exc, rows)
        else:
            messages.success(
                request,
                _("%(name)s's household is in the ledger.") % {"name": household.head_name},
            )
            return redirect("recovery:household", household_id=household.pk)
    return _household_new_page(request, form, formset, house, status=400)


def _household_new_page(
    request: HttpRequest,
    form: HouseholdForm,
    formset: Any,
    house: House | None,
    *,
    status: int = 200,
) -> HttpResponse:
    errors = summary(form) + (member_summary(formset) if formset.is_bound else [])
    # Rows 4 to 6 fold away unless something was typed in them.
    more_open = formset.is_bound and any(f.has_changed() or f.errors for f in formset.forms[3:])
    return render(
        request,
        "recovery/household_new.html",
        {
            **_links(request),
            "form": form,
            "formset": formset,
            "house": house,
            "errors": errors,
            "more_open": more_open,
        },
        status=status,
    )


# --- One household ------------------------------------------------------------------------------


def _household(request: HttpRequest, household_id: int) -> LedgerHousehold:
    """A household the person may see: all of it (ledger readers) or its certificate (the
    counter). Showing it is audited."""
    household = get_object_or_404(
        LedgerHousehold.objects.select_related("disaster", "house"), pk=household_id
    )
    if not (
        access.may(request.user, Action.READ, household)
        or access.may(request.user, Action.CREATE, CertificateApplication)
    ):
        raise PermissionDenied("read on recovery.ledgerhousehold is not allowed")
    return household


def _household_page(
    request: HttpRequest,
    household: LedgerHousehold,
    *,
    status: int = 200,
    support_form: SupportForm | None = None,
    application_form: ApplicationForm | None = None,
    reissue_form: ReissueForm | None = None,
    grant_form: GrantForm | None = None,
) -> HttpResponse:
    user = request.user
    disaster = household.disaster
    whole = access.may(user, Action.READ, household)
    core_services.audit_record(action=Action.READ, record=household)
    application = (
        CertificateApplication.objects.filter(household=household, disaster=disaster)
        .select_related("received_by", "reviewed_by")
        .first()
    )
    certificate = (
        Certificate.objects.filter(application=application).first() if application else None
    )
    house = household.house
    deciding = services.damage_of(house=house, disaster=disaster) if house else None
    context: dict[str, Any] = {
        **_links(request),
        "household": household,
        "disaster": disaster,
        "whole": whole,
        "house": house,
        "deciding": deciding,
        "application": application,
        "application_label": _application_label(application),
        "certificate": certificate,
        "issues": (
            list(certificate.issues.select_related("issued_by").order_by("version"))
            if certificate
            else []
        ),
        "pdf_url": f"/api/v1/recovery/certificates/{certificate.pk}/pdf" if certificate else "",
        "can_receive": application is None
        and access.may(user, Action.CREATE, CertificateApplication),
        "can_review": application is not None
        and application.status == ApplicationStatus.APPLIED
        and access.may(user, Action.UPDATE, application),
        "can_issue": application is not None
        and application.status == ApplicationStatus.REVIEWED
        and access.may(user, Action.UPDATE, application),
        "can_reissue": certificate is not None and access.may(user, Action.UPDATE, certificate),
        "can_pdf": certificate is not None and access.may(user, Action.EXPORT, certificate),
        "application_form": application_form
        or ApplicationForm(prefix="application", initial={"applicant_name": household.head_name}),
        "reissue_form": reissue_form or ReissueForm(prefix="reissue"),
        "errors": summary(support_form, application_form, reissue_form, grant_form),
    }
    if whole:
        members = list(household.members.order_by("pk"))
        may_surveys = access.may(user, Action.READ, Survey)
        surveys = (
            list(
                Survey.objects.filter(house=house, disaster=disaster)
                .select_related("surveyor")
                .order_by("-recorded_at")
            )
            if house and may_surveys
            else []
        )
        grant_list = (
            list(household.grant_applications.order_by("pk"))
            if access.may(user, Action.READ, GrantApplication)
            else []
        )
        context.update(
            {
                "members": members,
                "may_surveys": may_surveys,
                "surveys": [
                    {
                        "survey": s,
                        "deciding": deciding is not None and s.pk == deciding.pk,
                        "method": METHOD_LABELS.get(s.method, s.method),
                        "inputs": shown_inputs(s.inputs),
                    }
                    for s in surveys
                ],
                "can_survey": access.may(user, Action.CREATE, Survey),
                "resurveys": list(
                    ResurveyRequest.objects.filter(house=house, disaster=disaster).order_by("pk")
                )
                if house and may_surveys
                else [],
                "can_resurvey": bool(surveys) and access.may(user, Action.CREATE, ResurveyRequest),
                "may_support": access.may(user, Action.READ, Support),
                "support": list(
                    household.support.select_related("recorded_by").order_by("provided_on", "pk")
                ),
                "can_support": access.may(user, Action.CREATE, Support),
                "support_form": support_form
                or SupportForm(prefix="support", initial={"provided_on": timezone.localdate()}),
                "may_sharing": access.may(user, Action.READ, Sharing),
                "sharing": list(household.sharing.order_by("-shared_at")),
                "may_grants": access.may(user, Action.READ, GrantApplication),
                "grants": [
                    {
                        "grant": g,
                        "rebuild": REBUILD_LABELS.get(g.rebuild, g.rebuild) if g.rebuild else "",
                        "actions": [
                            (value, GRANT_STATUS_ACTIONS[value])
                            for value in ("approved", "paid", "rejected")
                            if value in grants.ALLOWED[GrantStatus(g.status)]
                        ]
                        if access.may(user, Action.UPDATE, g)
                        else [],
                    }
                    for g in grant_list
                ],
                "can_grant": certificate is not None
                and access.may(user, Action.CREATE, GrantApplication),
                "grant_form": grant_form
                or GrantForm(
                    prefix="grant",
                    initial={
                        "part": "base",
                        "household_size": max(1, len(members)),
                        "applied_on": timezone.localdate(),
                    },
                ),
            }
        )
    return render(request, "recovery/household.html", context, status=status)


@staff_required
@require_GET
def household_detail(request: HttpRequest, household_id: int) -> HttpResponse:
    return _household_page(request, _household(request, household_id))


@staff_required
@require_POST
def resurvey_request(request: HttpRequest, household_id: int) -> HttpResponse:
    """The household disputes its class: a re-survey (再調査), due within the city's days."""
    household = _household(request, household_id)
    access.require(request.user, Action.CREATE, ResurveyRequest)
    reason = request.POST.get("reason", "").strip()[:2000]
    if household.house is None:
        messages.error(request, _("No house is registered with this household."))
        return _to_household(household, "house-title")
    try:
        made = services.resurvey_request(
            house=household.house,
            disaster=household.disaster,
            reason=reason,
            requested_by=_by(request),
        )
    except RecoveryError as exc:
        messages.error(request, explain(exc))
    else:
        messages.success(
            request,
            _("Re-survey requested: to be done by %(date)s.") % {"date": made.due_by.isoformat()},
        )
    return _to_household(household, "house-title")


def _to_household(household: LedgerHousehold, anchor: str) -> HttpResponse:
    return redirect(reverse("recovery:household", args=[household.pk]) + f"#{anchor}")


@staff_required
@require_POST
def support_add(request: HttpRequest, household_id: int) -> HttpResponse:
    household = _household(request, household_id)
    access.require(request.user, Action.CREATE, Support)
    access.require(request.user, Action.UPDATE, household)
    form = SupportForm(request.POST, prefix="support")
    if form.is_valid():
        data = form.cleaned_data
        try:
            ledger.support_record(
                household=household,
                kind=data["kind"],
                provided_on=data["provided_on"],
                amount=data["amount"],
                note=data["note"],
                by=_by(request),
            )
        except RecoveryError as exc:
            put_error(form, exc)
        else:
            messages.success(request, _("Support recorded."))
            return _to_household(household, "support")
    return _household_page(request, household, support_form=form, status=400)


@staff_required
@require_POST
def application_receive(request: HttpRequest, household_id: int) -> HttpResponse:
    household = _household(request, household_id)
    access.require(request.user, Action.CREATE, CertificateApplication)
    form = ApplicationForm(request.POST, prefix="application")
    if form.is_valid():
        try:
            certificates.application_receive(
                household=household,
                applicant_name=form.cleaned_data["applicant_name"],
                channel="counter",
                by=_by(request),
            )
        except RecoveryError as exc:
            put_error(form, exc)
        else:
            messages.success(request, _("Application received."))
            return _to_household(household, "certificate")
    return _household_page(request, household, application_form=form, status=400)


def _application(request: HttpRequest, application_id: int) -> CertificateApplication:
    application = get_object_or_404(
        CertificateApplication.objects.select_related("household__house", "disaster"),
        pk=application_id,
    )
    access.require(request.user, Action.UPDATE, application)
    return application


@staff_required
@require_POST
def application_review(request: HttpRequest, application_id: int) -> HttpResponse:
    application = _application(request, application_id)
    try:
        certificates.application_review(application=application, by=_by(request))
    except RecoveryError as exc:
        messages.error(request, explain(exc))
    else:
        messages.success(request, _("Reviewed: the certificate can be issued."))
    return _to_household(application.household, "certificate")


@staff_required
@require_POST
def application_issue(request: HttpRequest, application_id: int) -> HttpResponse:
    application = _application(request, application_id)
    try:
        certificate, _created = certificates.certificate_issue(
            application=application, by=_by(request)
        )
    except RecoveryError as exc:
        messages.error(request, explain(exc))
    else:
        messages.success(
            request, _("Certificate %(number)s issued.") % {"number": certificate.number}
        )
    return _to_household(application.household, "certificate")


@staff_required
@require_POST
def certificate_reissue(request: HttpRequest, certificate_id: int) -> HttpResponse:
    certificate = get_object_or_404(
        Certificate.objects.select_related("application__household"), pk=certificate_id
    )
    access.require(request.user, Action.UPDATE, certificate)
    household = _household(request, certificate.application.household_id)
    form = ReissueForm(request.POST, prefix="reissue")
    if form.is_valid():
        try:
            issue = certificates.certificate_reissue(
                certificate=certificate, reason=form.cleaned_data["reason"], by=_by(request)
            )
        except RecoveryError as exc:
            put_error(form, exc)
        else:
            messages.success(
                request,
                _("Certificate %(number)s re-issued (version %(version)s).")
                % {"number": certificate.number, "version": issue.version},
            )
            return _to_household(household, "certificate")
    return _household_page(request, household, reissue_form=form, status=400)


@staff_required
@require_POST
def grant_apply(request: HttpRequest, household_id: int) -> HttpResponse:
    household = _household(request, household_id)
    access.require(request.user, Action.CREATE, GrantApplication)
    form = GrantForm(request.POST, prefix="grant")
    if form.is_valid():
        data = form.cleaned_data
        try:
            made = grants.grant_apply(
                household=household,
                part=data["part"],
                rebuild=data["rebuild"],
                household_size=data["household_size"],
                applied_on=data["applied_on"],
                by=_by(request),
            )
        except RecoveryError as exc:
            put_error(form, exc)
        else:
            messages.success(
                request,
                _("Grant applied for: %(part)s, %(amount)s yen (%(rule)s).")
                % {
                    "part": made.get_part_display(),
                    "amount": f"{made.amount:,}",
                    "rule": made.rule,
                },
            )
            return _to_household(household, "grants")
    return _household_page(request, household, grant_form=form, status=400)


@staff_required
@require_POST
def grant_status(request: HttpRequest, grant_id: int) -> HttpResponse:
    grant = get_object_or_404(GrantApplication.objects.select_related("household"), pk=grant_id)
    access.require(request.user, Action.UPDATE, grant)
    status = request.POST.get("status", "")
    if status not in GRANT_STATUS_ACTIONS:
        raise Http404("no such status")
    try:
        grants.grant_set_status(application=grant, status=status, by=_by(request))
    except RecoveryError as exc:
        messages.error(request, explain(exc))
    else:
        messages.success(
            request,
            _("%(part)s: %(status)s.")
            % {"part": grant.get_part_display(), "status": grant.get_status_display()},
        )
    return _to_household(grant.household, "grants")


# --- Damage surveys -----------------------------------------------------------------------------


@staff_required
@require_http_methods(["GET", "POST"])
def survey_new(request: HttpRequest) -> HttpResponse:
    """A survey on a surveyor's phone: the house (known, or new), the round, the method and its
    inputs. The class is decided by the rule table when it is saved."""
    user = request.user
    access.require(user, Action.CREATE, Survey)
    source = request.POST if request.method == "POST" else request.GET
    house = _house(source.get("house"))
    if house is not None:
        access.require(user, Action.READ, house)
    if request.method == "POST":
        form = SurveyForm(request.POST, request.FILES, house_fixed=house is not None)
        if form.is_valid():
            data = form.cleaned_data
            try:
                with transaction.atomic():
                    if house is None:
                        access.require(user, Action.CREATE, House)
                        house = services.house_register(
                            house_id=data["new_house_id"],
                            address=data["address"],
                            structure=data["structure"],
                            storeys=data["storeys"],
                        )
                    recorded = services.survey_record(
                        survey_id=data["survey_id"],
                        house=house,
                        disaster=data["disaster"],
                        round=data["round"],
                        method=data["method"],
                        inputs=form.inputs(),
                        surveyed_on=data["surveyed_on"],
                        surveyor=_user(request),
                        notes=data["notes"],
                    )
                    if recorded.created:
                        for upload in data["photos"]:
                            services.survey_photo_add(
                                survey=recorded.survey, upload=upload, by=_user(request)
                            )
            except RecoveryError as exc:
                house = _house(source.get("house"))  # a new one was rolled back
                put_error(form, exc, rename={"file": "photos"})
            else:
                if recorded.created:
                    messages.success(request, _("Survey saved."))
                else:
                    messages.info(request, _("This survey was already saved."))
                return redirect("recovery:survey", survey_id=recorded.survey.pk)
        status = 400
    else:
        disaster = _disaster(request.GET.get("disaster"))
        form = SurveyForm(
            house_fixed=house is not None,
            initial={
                **new_ids(),
                "disaster": disaster,
                "round": SurveyRound.FIRST,
                "surveyed_on": timezone.localdate(),
                "storeys": 1,
            },
        )
        status = 200
    found: list[House] = []
    looked_for = request.GET.get("house_q", "").strip()[:100]
    if looked_for and house is None and access.may(user, Action.READ, House):
        found = list(House.objects.filter(address__icontains=looked_for).order_by("address")[:20])
    return render(
        request,
        "recovery/survey_new.html",
        {
            **_links(request),
            "form": form,
            "errors": summary(form),
            "house": house,
            "house_surveys": (
                Survey.objects.filter(house=house)
                .select_related("disaster")
                .order_by("-recorded_at")[:5]
                if house
                else []
            ),
            "looked_for": looked_for,
            "found": found,
        },
        status=status,
    )


@staff_required
@require_GET
def survey_detail(request: HttpRequest, survey_id: uuid.UUID) -> HttpResponse:
    """A survey as saved: the class, and the table and row that decided it."""
    survey = get_object_or_404(
        Survey.objects.select_related("house", "disaster", "surveyor"), pk=survey_id
    )
    access.require(request.user, Action.READ, survey)
    # The house's address and its damage: a read of personal data, logged as the API's are.
    core_services.audit_record(action=Action.READ, record=survey)
    try:
        table = rules.table("damage", survey.rule_set)
    except rules.RuleError:
        table = {}
    household = None
    if access.may(request.user, Action.READ, LedgerHousehold):
        household = LedgerHousehold.objects.filter(
            house=survey.house, disaster=survey.disaster
        ).first()
        if household is not None:
            core_services.audit_record(action=Action.READ, record=household)
    deciding = services.damage_of(house=survey.house, disaster=survey.disaster)
    return render(
        request,
        "recovery/survey.html",
        {
            **_links(request),
            "survey": survey,
            "method": METHOD_LABELS.get(survey.method, survey.method),
            "inputs": shown_inputs(survey.inputs),
            "table": table,
            "deciding": deciding,
            "household": household,
            "can_add_household": household is None
            and access.may(request.user, Action.CREATE, LedgerHousehold),
        },
    )


# --- Bulk issuance ------------------------------------------------------------------------------


@staff_required
@require_GET
def bulk(request: HttpRequest) -> HttpResponse:
    access.require(request.user, Action.READ, IssueBatch)
    disaster = _disaster(request.GET.get("disaster"))
    context: dict[str, Any] = {
        **_links(request),
        "disaster": disaster,
        "form": LedgerFilterForm({"disaster": disaster.pk if disaster else ""}),
        "can_start": access.may(request.user, Action.CREATE, IssueBatch),
        "can_update": access.may(request.user, Action.UPDATE, IssueBatch),
    }
    if disaster is not None:
        applications = CertificateApplication.objects.filter(disaster=disaster)
        context.update(
            {
                "waiting": applications.filter(
                    status=ApplicationStatus.REVIEWED, certificate__isnull=True
                ).count(),
                "applied": applications.filter(status=ApplicationStatus.APPLIED).count(),
                "issued": Certificate.objects.filter(application__disaster=disaster).count(),
                "batches": list(
                    IssueBatch.objects.filter(disaster=disaster)
                    .select_related("created_by")
                    .order_by("-created_at")
                ),
            }
        )
    return render(request, "recovery/bulk.html", context)


@staff_required
@require_POST
def bulk_start(request: HttpRequest) -> HttpResponse:
    access.require(request.user, Action.CREATE, IssueBatch)
    disaster = get_object_or_404(Disaster, pk=_int(request.POST.get("disaster")) or 0)
    batch = certificates.bulk_start(disaster=disaster, by=_by(request))
    return redirect("core:job_detail", job_id=batch.job_id)


def _batch(request: HttpRequest, batch_id: int) -> IssueBatch:
    batch = get_object_or_404(IssueBatch, pk=batch_id)
    access.require(request.user, Action.UPDATE, batch)
    return batch


@staff_required
@require_POST
def bulk_pause(request: HttpRequest, batch_id: int) -> HttpResponse:
    batch = certificates.bulk_pause(batch=_batch(request, batch_id))
    messages.success(request, _("Paused: what is issued stays issued; resume to go on."))
    return redirect(f"{reverse('recovery:bulk')}?disaster={batch.disaster_id}")


@staff_required
@require_POST
def bulk_resume(request: HttpRequest, batch_id: int) -> HttpResponse:
    batch = _batch(request, batch_id)
    try:
        certificates.bulk_resume(batch=batch, by=_by(request))
    except RecoveryError as exc:
        messages.error(request, explain(exc))
        return redirect(f"{reverse('recovery:bulk')}?disaster={batch.disaster_id}")
    return redirect("core:job_detail", job_id=batch.job_id)


# --- Rule tables --------------------------------------------------------------------------------


@staff_required
@require_http_methods(["GET", "POST"])
def rule_tables(request: HttpRequest) -> HttpResponse:
    """The tables Machi ships and those the city loaded, and loading one with its source."""
    access.require(request.user, Action.READ, RuleSet)
    can_load = access.may(request.user, Action.CREATE, RuleSet)
    form = RuleTableForm()
    status = 200
    if request.method == "POST":
        access.require(request.user, Action.CREATE, RuleSet)
        form = RuleTableForm(request.POST, request.FILES)
        if form.is_valid():
            try:
                table = services.rule_table_load(
                    data=form.cleaned_data["file"], loaded_by=_by(request)
                )
            except RecoveryError as exc:
                form.add_error("file", explain(exc))
            else:
                messages.success(
                    request,
                    _("Rule table %(name)s loaded: %(title)s")
                    % {"name": table.name, "title": table.title},
                )
                return redirect("recovery:rules")
        status = 400
    shipped = sorted(rules.shipped().values(), key=lambda t: (t["kind"], t["name"]))
    return render(
        request,
        "recovery/rules.html",
        {
            **_links(request),
            "shipped": shipped,
            "loaded": list(RuleSet.objects.select_related("loaded_by").order_by("kind", "name")),
            "form": form,
            "errors": summary(form),
            "can_load": can_load,
        },
        status=status,
    )
