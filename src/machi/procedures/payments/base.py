"""What every payment provider gives, and which ones a procedure offers.

A provider knows how the resident pays (``start``: a page to go to, or what to do) and how the
money goes back (``refund``). It writes nothing: ``payments.services`` records every change
as a ``PaymentEvent`` and in the audit log, so a provider that fails leaves no trace.

Which providers a procedure offers (``providers_for``):

* none when the procedure is free (``fee_yen == 0``);
* ``card`` when a gateway is configured (``MACHI_CARD_API_URL``);
* ``postal_order`` (定額小為替) always: the classic way to pay for a certificate by mail;
* ``counter`` only when the result can be collected at the counter (``"counter"`` in the
  procedure's deliveries, and in the application's delivery when it is known): nobody should
  travel to city hall to pay for a paper that is then mailed.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from django.utils.functional import Promise

from machi.procedures.services import ProcedureError

if TYPE_CHECKING:
    from machi.core.models import User
    from machi.procedures.models import Payment, Procedure


class PaymentError(ProcedureError):
    """A payment request refused or failed; ``field`` names the input at fault ("provider",
    "status", "amount_yen", "orders", "signature", "gateway"…)."""


@dataclass(frozen=True)
class Start:
    """How the resident pays: go to ``redirect_url`` (the card gateway's hosted page), or
    follow ``instructions`` (counter, 定額小為替). ``external_id`` and ``data`` are what the
    provider wants remembered (the gateway's checkout session)."""

    redirect_url: str = ""
    instructions: str = ""
    external_id: str = ""
    data: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Refund:
    """The money is on its way back. ``completed``: returned already (a gateway that refunds at
    once, or staff who handed it back); otherwise the gateway confirms later (webhook)."""

    completed: bool = True
    external_id: str = ""
    data: Mapping[str, Any] = field(default_factory=dict)


class Provider(ABC):
    name: ClassVar[str]
    label: ClassVar[str | Promise]
    # Online providers take and return the money themselves (the card gateway); offline ones
    # are paid and refunded by hand, and staff record it (counter, 定額小為替).
    online: ClassVar[bool]

    def available(self, procedure: Procedure, *, delivery: str | None = None) -> bool:
        return True

    @abstractmethod
    def start(self, payment: Payment, *, return_url: str) -> Start:
        """What the resident does to pay; raises PaymentError when that cannot begin."""

    @abstractmethod
    def refund(self, payment: Payment, *, by: User | None) -> Refund:
        """Return the money (online), or acknowledge that staff returned it (offline)."""


PROVIDERS: dict[str, Provider] = {}
# The order residents see: the one that is done at once first.
ORDER = ("card", "counter", "postal_order")


def register(provider: Provider) -> Provider:
    PROVIDERS[provider.name] = provider
    return provider


def provider_get(name: str) -> Provider:
    _load()
    try:
        return PROVIDERS[name]
    except KeyError:
        raise PaymentError(f"no payment method {name!r}", field="provider") from None


def providers_for(procedure: Procedure, *, delivery: str | None = None) -> list[Provider]:
    """The ways to pay this procedure's fee, online first; none when it is free."""
    _load()
    if procedure.fee_yen <= 0:
        return []
    found = [p for p in PROVIDERS.values() if p.available(procedure, delivery=delivery)]
    return sorted(found, key=lambda p: ORDER.index(p.name) if p.name in ORDER else len(ORDER))


def _load() -> None:
    # The providers register themselves on import.
    from machi.procedures.payments import card, counter, postal  # noqa: F401
