"""Paying by postal money order (定額小為替): the resident buys the orders at a post office and
mails them with the application's reference; a clerk records their numbers and the amount
received (never less than the fee). A refund goes back by post, recorded by the clerk."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.conf import settings
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from machi.core import selectors as core_selectors
from machi.procedures.payments.base import Provider, Refund, Start, register

if TYPE_CHECKING:
    from machi.core.models import User
    from machi.procedures.models import Payment


def postal_address(department: str) -> str:
    """Where the orders are mailed: the municipality and the department, and the street
    address when the installation sets ``MACHI_POSTAL_ADDRESS`` (e.g. "〒000-0000 …")."""
    municipality = core_selectors.municipality_current()
    city = f"{municipality.prefecture}{municipality.name}" if municipality else ""
    street = str(getattr(settings, "MACHI_POSTAL_ADDRESS", "") or "")
    return " ".join(part for part in (street, city, department) if part)


class PostalOrderProvider(Provider):
    name = "postal_order"
    label = _("Postal money order (定額小為替)")
    online = False

    def start(self, payment: Payment, *, return_url: str) -> Start:
        application = payment.application
        return Start(
            instructions=gettext(
                "Buy postal money orders (定額小為替) for %(amount)s yen at a post office, "
                "leave the payee blank, write your reference %(reference)s on a note, and mail "
                "them to %(address)s. We start on your application once they arrive. Please "
                "send the exact amount."
            )
            % {
                "amount": f"{payment.amount_yen:,}",
                "reference": application.reference,
                "address": postal_address(application.department),
            }
        )

    def refund(self, payment: Payment, *, by: User | None) -> Refund:
        # The clerk mails the orders (or the money) back; recording it is all that is left.
        return Refund(completed=True)


register(PostalOrderProvider())
