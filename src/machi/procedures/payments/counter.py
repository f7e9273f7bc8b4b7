"""Paying at the counter (窓口払い): in cash when the resident collects the result, a clerk
records it with the receipt number; a refund is handed back at the counter."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from machi.procedures.payments.base import Provider, Refund, Start, register

if TYPE_CHECKING:
    from machi.core.models import User
    from machi.procedures.models import Payment, Procedure


class CounterProvider(Provider):
    name = "counter"
    label = _("Pay at the counter (窓口払い)")
    online = False

    def available(self, procedure: Procedure, *, delivery: str | None = None) -> bool:
        if "counter" not in procedure.deliveries:
            return False
        return delivery in (None, "", "counter")

    def start(self, payment: Payment, *, return_url: str) -> Start:
        application = payment.application
        return Start(
            instructions=gettext(
                "Pay %(amount)s yen in cash at the %(department)s counter when you collect "
                "the result. Tell the clerk your reference %(reference)s."
            )
            % {
                "amount": f"{payment.amount_yen:,}",
                "department": application.department,
                "reference": application.reference,
            }
        )

    def refund(self, payment: Payment, *, by: User | None) -> Refund:
        # The clerk hands the money back; recording it is all that is left to do.
        return Refund(completed=True)


register(CounterProvider())
