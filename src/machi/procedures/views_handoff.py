"""Staff link an online 罹災証明書 application to its household in the 被災者台帳 by hand,
when the hand-off found none or several (``handlers.match_household``)."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from machi.core import access
from machi.core.roles import Action
from machi.core.views import staff_required
from machi.procedures import handlers
from machi.procedures.models import Application
from machi.procedures.services import ProcedureError


@staff_required
@require_POST
def link(request: HttpRequest, reference: str) -> HttpResponse:
    """Victim support staff (who may read the ledger and receive certificate applications)
    choose the household; the recovery room's application is made or found, and linked."""
    from machi.recovery.models import CertificateApplication, LedgerHousehold

    application = get_object_or_404(
        Application.objects.select_related("procedure"), reference=reference
    )
    access.require(request.user, Action.READ, application)
    access.require(request.user, Action.READ, LedgerHousehold)
    access.require(request.user, Action.CREATE, CertificateApplication)
    raw = request.POST.get("household_id", "")
    if not (raw.isascii() and raw.isdecimal() and len(raw) < 12):
        messages.error(request, _("Choose a household."))
        return redirect("procedures:detail", reference=reference)
    try:
        made = handlers.match_household(application, int(raw), access.user_of(request))
    except ProcedureError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(
            request,
            _("Linked to the certificate application no. %(number)s of the victim support room.")
            % {"number": made.pk},
        )
    return redirect("procedures:detail", reference=reference)
