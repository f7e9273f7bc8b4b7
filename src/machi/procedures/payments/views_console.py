"""Staff actions on an application's fee: the counter payment taken, 定額小為替 received, a
refund handed back, a card refund tried again. Each is a plain form on the application's
page (``procedures/payments/_panel.html``) and comes back to it with a message."""

from __future__ import annotations

from collections.abc import Callable

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from machi.core import access
from machi.core.models import User
from machi.core.roles import Action
from machi.core.views import staff_required
from machi.procedures.models import Application, Payment
from machi.procedures.payments import services
from machi.procedures.payments.base import PaymentError


def _act(
    request: HttpRequest,
    reference: str,
    action: Callable[[Payment, User], object],
    done: str,
) -> HttpResponse:
    application = get_object_or_404(Application, reference=reference)
    # Whoever may move the application on may record its fee (procedures.policies).
    access.require(request.user, Action.UPDATE, application)
    payment = get_object_or_404(Payment, application=application)
    by = access.user_of(request)
    if by is None:  # staff_required let a signed-in person through: never the case
        raise PermissionDenied
    try:
        action(payment, by)
    except PaymentError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, done)
    return redirect("procedures:detail", reference=reference)


@staff_required
@require_POST
def counter_paid(request: HttpRequest, reference: str) -> HttpResponse:
    return _act(
        request,
        reference,
        lambda payment, by: services.mark_paid(
            payment=payment,
            by=by,
            receipt=request.POST.get("receipt", ""),
            detail={"amount_yen": request.POST.get("amount_yen", "")},
        ),
        _("Payment at the counter recorded."),
    )


@staff_required
@require_POST
def postal_received(request: HttpRequest, reference: str) -> HttpResponse:
    return _act(
        request,
        reference,
        lambda payment, by: services.mark_paid(
            payment=payment,
            by=by,
            detail={
                "orders": request.POST.get("orders", ""),
                "amount_yen": request.POST.get("amount_yen", ""),
                "note": request.POST.get("note", ""),
            },
        ),
        _("Postal money orders (定額小為替) recorded as received."),
    )


@staff_required
@require_POST
def refunded(request: HttpRequest, reference: str) -> HttpResponse:
    """A clerk gave the money back (in cash, or the orders by post)."""

    def record(payment: Payment, by: User) -> Payment:
        if payment.provider == "card":
            raise PaymentError("a card payment is refunded through the gateway", field="provider")
        return services.refund(payment=payment, by=by, note=request.POST.get("note", ""))

    return _act(request, reference, record, _("Refund recorded."))


@staff_required
@require_POST
def card_refund(request: HttpRequest, reference: str) -> HttpResponse:
    """Ask the gateway again for a refund that failed."""

    def retry(payment: Payment, by: User) -> Payment:
        if payment.provider != "card":
            raise PaymentError(
                "only a card payment is refunded through the gateway", field="provider"
            )
        return services.refund(payment=payment, by=by)

    return _act(request, reference, retry, _("Refund asked from the card gateway."))
