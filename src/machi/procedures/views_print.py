"""Staff printing of the procedures room: cover letters (送付状) and address labels, as PDF.

Each printed application is one export in the audit log (the letters carry names and
addresses). Counter staff print; who may only read applications may not.
"""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from machi.core import access
from machi.core import services as core_services
from machi.core.roles import Action
from machi.core.views import staff_required
from machi.procedures import printing
from machi.procedures.models import Application
from machi.procedures.services import ProcedureError

BATCH_MAX = 500
KINDS = {"cover": printing.cover_letter_pdf, "labels": printing.labels_pdf}


def _pdf(data: bytes, name: str) -> HttpResponse:
    response = HttpResponse(data, content_type="application/pdf")
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    response["Cache-Control"] = "no-store"
    return response


def _audit(applications: list[Application], kind: str) -> None:
    for application in applications:
        core_services.audit_record(
            action=Action.EXPORT, record=application, detail={"printed": kind}
        )


@staff_required
@require_GET
def cover(request: HttpRequest, reference: str) -> HttpResponse:
    """The cover letter of one application."""
    application = get_object_or_404(
        Application.objects.select_related("procedure"), reference=reference
    )
    access.require(request.user, Action.READ, application)
    access.require(request.user, Action.EXPORT, application)
    try:
        data = printing.cover_letter_pdf([application])
    except ProcedureError as exc:
        messages.error(request, _("Nothing printed: %(reason)s.") % {"reason": exc})
        return redirect("procedures:detail", reference=reference)
    _audit([application], "cover")
    return _pdf(data, f"cover-{application.reference}.pdf")


@staff_required
@require_POST
def batch(request: HttpRequest) -> HttpResponse:
    """Cover letters or labels of the applications chosen in the queue, in the queue's order."""
    access.require(request.user, Action.READ, Application)
    access.require(request.user, Action.EXPORT, Application)
    kind = request.POST.get("kind", "")
    # The queue's bulk form names its checkboxes "reference"; "references" is accepted too.
    chosen = request.POST.getlist("references") or request.POST.getlist("reference")
    chosen = list(dict.fromkeys(chosen))[:BATCH_MAX]
    back = reverse("procedures:queue") + "?" + request.POST.get("back", "")
    if kind not in KINDS:
        messages.error(request, _("Choose cover letters or labels."))
        return redirect(back)
    found = access.scope(
        request.user,
        Action.EXPORT,
        Application.objects.select_related("procedure", "payment").filter(reference__in=chosen),
    )
    by_reference = {a.reference: a for a in found}
    applications = [by_reference[r] for r in chosen if r in by_reference]
    try:
        data = KINDS[kind](applications)
    except ProcedureError as exc:
        messages.error(request, _("Nothing printed: %(reason)s.") % {"reason": exc})
        return redirect(back)
    _audit(applications, kind)
    stamp = timezone.localtime().strftime("%Y%m%d-%H%M")
    return _pdf(data, f"{kind}-{stamp}.pdf")
