"""Residents' payment pages: where the card gateway sends the resident back, a new checkout
after a declined card, and the gateway's webhook.

The return page shows the payment as Machi knows it. Coming back to it proves nothing (anyone
can type ``?result=success``): the gateway's signed webhook marks a payment paid, or the
gateway's API asked once with our key when the resident arrives before the webhook.
"""

from __future__ import annotations

import logging
import uuid

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from machi.procedures import services as procedure_services
from machi.procedures.models import Payment, PaymentStatus
from machi.procedures.payments import base, card, services

logger = logging.getLogger(__name__)


def return_url(request: HttpRequest, payment: Payment) -> str:
    """The absolute address of ``payment``'s return page, for ``services.payment_start``."""
    return request.build_absolute_uri(
        reverse("portal:pay_return", kwargs={"application": payment.application_id})
    )


def _payment(application: uuid.UUID) -> Payment:
    # The application's UUID is the resident's link to this page: unguessable, and it shows
    # nothing personal (reference, procedure, amount, status).
    payment = (
        Payment.objects.select_related("application__procedure")
        .filter(application_id=application)
        .first()
    )
    if payment is None:
        raise Http404
    return payment


@require_GET
def pay_return(request: HttpRequest, application: uuid.UUID) -> HttpResponse:
    payment = _payment(application)
    result = request.GET.get("result", "")
    if result == "success" and payment.status == PaymentStatus.PENDING:
        try:
            services.payment_sync(payment=payment)
        except base.PaymentError as exc:  # the webhook will tell; the page says "pending"
            logger.info("payment %s not synced with the gateway: %s", payment.pk, exc)
    provider = base.provider_get(payment.provider)
    instructions = ""
    if not provider.online and payment.status == PaymentStatus.PENDING:
        instructions = provider.start(payment, return_url="").instructions
    response = render(
        request,
        "procedures/payments/return.html",
        {
            "payment": payment,
            "application": payment.application,
            "provider": provider,
            "result": result if result in {"success", "cancel"} else "",
            "instructions": instructions,
            "can_pay": provider.online
            and payment.status in {PaymentStatus.PENDING, PaymentStatus.FAILED},
            # The resident comes here straight from the gateway: the only page that can give
            # them the status link (the application's UUID is as secret as the link).
            "status_link": request.build_absolute_uri(
                procedure_services.status_path(payment.application)
            ),
        },
    )
    response["Cache-Control"] = "no-store"
    return response


@require_POST
def pay_start(request: HttpRequest, application: uuid.UUID) -> HttpResponse:
    """Go (again) to the gateway's page: after a declined card, or from a link in a mail."""
    payment = _payment(application)
    try:
        start = services.payment_start(payment=payment, return_url=return_url(request, payment))
    except base.PaymentError as exc:
        logger.warning("payment %s could not start: %s", payment.pk, exc)
        messages.error(
            request,
            _("Card payment is not available right now. Please try again in a few minutes."),
        )
        return redirect("portal:pay_return", application=application)
    if start.redirect_url:
        return redirect(start.redirect_url)
    return redirect("portal:pay_return", application=application)


@csrf_exempt  # the gateway cannot send a CSRF token: the signature authenticates the request
@require_POST
def pay_webhook(request: HttpRequest) -> HttpResponse:
    if not card.configured():
        return HttpResponse(status=404)
    try:
        services.webhook_receive(request.body, request.headers.get(card.SIGNATURE_HEADER, ""))
    except base.PaymentError as exc:
        logger.warning("card webhook refused: %s", exc)
        return HttpResponse(str(exc), status=400, content_type="text/plain")
    return HttpResponse(status=200)
