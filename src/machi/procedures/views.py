"""Staff pages of the procedures room: the queue of a department, and an application."""

from __future__ import annotations

from django.contrib import messages
from django.core.paginator import Paginator
from django.db.models import Count
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import urlencode
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy as _lazy
from django.views.decorators.http import require_GET, require_POST

from machi.core import access
from machi.core import services as core_services
from machi.core.models import User
from machi.core.roles import Action
from machi.core.views import staff_required
from machi.procedures import handlers, selectors, services
from machi.procedures.models import Application, Procedure, Status

PAGE = 50


def _filters(request: HttpRequest, default_department: str) -> selectors.QueueFilter:
    status = request.GET.get("status", "open")
    if status not in {"open", "all", *Status.values}:
        status = "open"
    return selectors.QueueFilter(
        status=status,
        overdue=request.GET.get("overdue") == "1",
        procedure=request.GET.get("procedure", "")[:48],
        department=request.GET.get("department", default_department)[:64],
        assigned=assigned
        if (assigned := request.GET.get("assigned", "")) in {"me", "none"}
        else "",
    )


@staff_required
@require_GET
def queue(request: HttpRequest) -> HttpResponse:
    """Applications by due date; overdue ones stand out; several can be moved at once."""
    user = request.user
    access.require(user, Action.READ, Application)
    works = access.may(user, Action.UPDATE, Application)
    filters = _filters(request, getattr(user, "department", "") if works else "")
    found = selectors.queue(user, filters).select_related(None).select_related("procedure")
    page = Paginator(found, PAGE).get_page(request.GET.get("page"))
    today = timezone.localdate()
    shown: list[Application] = list(page)
    # The rows are made here, not in the template: 50 rows of lazy labels and date filters
    # cost more than the query (the page is read all day by every clerk).
    labels = {value: str(label) for value, label in Status.choices}
    names: dict[int, str] = {}
    staff = dict(
        User.objects.filter(
            pk__in={a.assigned_to_id for a in shown if a.assigned_to_id}
        ).values_list("pk", "username")
    )
    rows = []
    for a in shown:
        submitted = timezone.localtime(a.submitted_at)
        rows.append(
            {
                "reference": a.reference,
                "procedure": names.setdefault(a.procedure_id, a.procedure.name),
                "applicant": a.applicant_name,
                "status": labels.get(a.status, a.status),
                "submitted_iso": submitted.isoformat(),
                "submitted": submitted.strftime("%Y-%m-%d %H:%M"),
                "out_of_hours": a.out_of_hours,
                "due": a.due_on.isoformat(),
                "overdue": a.due_on < today and a.status not in services.FINISHED,
                "assigned": staff.get(a.assigned_to_id or 0, ""),
            }
        )
    core_services.audit_record_many(action=Action.READ, records=shown)
    query = urlencode(
        {
            k: v
            for k, v in {
                "status": filters.status,
                "overdue": "1" if filters.overdue else "",
                "procedure": filters.procedure,
                "department": filters.department,
                "assigned": filters.assigned,
            }.items()
            if v
        }
    )
    return render(
        request,
        "procedures/queue.html",
        {
            "page": page,
            "rows": rows,
            "filters": filters,
            "statuses": [(value, labels[value]) for value in Status.values],
            # A correction needs its message to the applicant: asked one by one, not in bulk.
            "bulk_statuses": [
                (value, labels[value])
                for value in Status.values
                if value not in {Status.RECEIVED, Status.CORRECTION}
            ],
            "procedures": Procedure.objects.all(),
            "departments": sorted(set(Procedure.objects.values_list("department", flat=True))),
            "can_update": works,
            "query": query,
            "base": reverse("procedures:queue"),
        },
    )


@staff_required
@require_POST
def bulk(request: HttpRequest) -> HttpResponse:
    """Move the chosen applications to one status; each refusal is reported, the rest move."""
    access.require(request.user, Action.UPDATE, Application)
    status = request.POST.get("status", "")
    references = request.POST.getlist("reference")[:200]
    moved, refused = 0, []
    for application in Application.objects.filter(reference__in=references):
        try:
            services.status_change(
                application=application, status=status, by=access.user_of(request)
            )
            moved += 1
        except services.ProcedureError as exc:
            refused.append(f"{application.reference}: {exc}")
    if moved:
        messages.success(request, _("%(n)s applications moved on.") % {"n": moved})
    for line in refused[:10]:
        messages.error(request, line)
    return redirect(reverse("procedures:queue") + "?" + request.POST.get("back", ""))


@staff_required
@require_GET
def detail(request: HttpRequest, reference: str) -> HttpResponse:
    application = get_object_or_404(
        Application.objects.select_related("procedure", "assigned_to"), reference=reference
    )
    access.require(request.user, Action.READ, application)
    core_services.audit_record(action=Action.READ, record=application)
    answers = services.answers_shown(application.procedure, application.answers)
    labels = dict(Status.choices)
    # The next steps in the workflow's own order: the harmless one (審査中) comes first.
    allowed = services.TRANSITIONS[Status(application.status)]
    return render(
        request,
        "procedures/detail.html",
        {
            "application": application,
            "answers": answers,
            "history": application.history.all(),
            "next": [(value, labels[value]) for value in Status.values if value in allowed],
            "delivery": services.DELIVERY_LABELS.get(application.delivery, application.delivery),
            "can_update": access.may(request.user, Action.UPDATE, application),
            "identity": IDENTITY_LABELS.get(application.identity_level, application.identity_level),
            "handoff": handlers.handoff_context(application, request.user),
            "can_print": access.may(request.user, Action.EXPORT, application),
        },
    )


IDENTITY_LABELS = {
    "counter": _lazy("Seen at the counter"),
    "email": _lazy("Verified e-mail"),
    "oidc": _lazy("OpenID Connect"),
    "jpki": _lazy("Signature with a certificate (JPKI style)"),
}


@staff_required
@require_POST
def move(request: HttpRequest, reference: str) -> HttpResponse:
    application = get_object_or_404(Application, reference=reference)
    access.require(request.user, Action.UPDATE, application)
    try:
        services.status_change(
            application=application,
            status=request.POST.get("status", ""),
            by=access.user_of(request),
            note=request.POST.get("note", ""),
            message=request.POST.get("message", ""),
        )
    except services.ProcedureError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, _("Status recorded."))
    return redirect("procedures:detail", reference=reference)


@staff_required
@require_POST
def assign(request: HttpRequest) -> HttpResponse:
    """Take applications (``to=me``) or give them back (``to=none``): from the application's
    page (one ``reference``) or the queue (several)."""
    access.require(request.user, Action.UPDATE, Application)
    me = access.user_of(request)
    to = me if request.POST.get("to") == "me" else None
    references = request.POST.getlist("reference")[:200]
    done = 0
    for application in Application.objects.filter(reference__in=references):
        try:
            services.assign(application=application, to=to, by=me)
            done += 1
        except services.ProcedureError as exc:
            messages.error(request, f"{application.reference}: {exc}")
    if done:
        messages.success(request, _("%(n)s applications assigned.") % {"n": done})
    back = request.POST.get("back", "")
    if len(references) == 1 and request.POST.get("from") == "detail":
        return redirect("procedures:detail", reference=references[0])
    return redirect(reverse("procedures:queue") + "?" + back)


@staff_required
@require_GET
def catalogue(request: HttpRequest) -> HttpResponse:
    """The procedures offered, as residents see them, with their open applications; the
    administrators edit them in the back office."""
    access.require(request.user, Action.READ, Procedure)
    open_counts = dict(
        Application.objects.exclude(status__in=services.FINISHED)
        .values_list("procedure_id")
        .annotate(n=Count("pk"))
        .values_list("procedure_id", "n")
    )
    rows = [
        {
            "procedure": p,
            "identity": IDENTITY_LABELS.get(p.identity_level, p.identity_level),
            "deliveries": [services.DELIVERY_LABELS.get(d, d) for d in p.deliveries],
            "fields": len(p.form),
            "open": open_counts.get(p.pk, 0),
        }
        for p in Procedure.objects.all()
    ]
    return render(
        request,
        "procedures/catalogue.html",
        {"rows": rows, "can_edit": access.may(request.user, Action.UPDATE, Procedure)},
    )
