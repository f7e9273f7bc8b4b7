"""What happens to an application's fee (手数料): a payment is created with the method the
resident chose, started (a gateway page, or what to do), marked paid (by a clerk for the
counter and 定額小為替, by the gateway's signed webhook for a card), and refunded or voided when
the application ends without the service (却下・取下げ).

Every change appends a ``PaymentEvent`` and an audit event in the same transaction; a call to
the gateway happens before that transaction, so when the gateway fails nothing is written.

    pending ──paid (clerk / webhook)──▶ paid ──refund──▶ refunded
       │  ╲                              │
       │   failed (card declined,        └─application ended─▶ refund_due ──refund──▶ refunded
       │   expired) ─new checkout─▶ pending
       └─application ended─▶ void (─money arrives anyway─▶ refund_due)
"""

from __future__ import annotations

import json
import logging
import re
import uuid
from collections.abc import Mapping
from typing import Any, Final

from django.db import IntegrityError, transaction
from django.utils import timezone

from machi.core import services as core_services
from machi.core.models import User
from machi.core.roles import Action
from machi.procedures.models import Application, Payment, PaymentEvent, PaymentStatus, Status
from machi.procedures.payments import base, card
from machi.procedures.payments.base import PaymentError, Start

logger = logging.getLogger(__name__)

ENDED: Final = frozenset({Status.REJECTED, Status.WITHDRAWN})
OPEN: Final = frozenset({PaymentStatus.PENDING, PaymentStatus.FAILED})
REFUNDABLE: Final = frozenset({PaymentStatus.PAID, PaymentStatus.REFUND_DUE})
WEBHOOK_KINDS: Final = frozenset(
    {"checkout.completed", "checkout.expired", "payment.failed", "refund.succeeded"}
)
# 定額小為替 are numbered (記号番号); a clerk types them, one per line or separated by commas.
ORDER_NUMBER: Final = re.compile(r"[0-9A-Za-z-]{1,32}")
MAX_ORDERS: Final = 30


def _actor(by: User | None) -> str:
    return by.get_username() if by is not None else ""


def _lock(payment: Payment) -> Payment:
    return Payment.objects.select_for_update().select_related("application").get(pk=payment.pk)


def _record(
    payment: Payment,
    kind: str,
    *,
    by: User | None,
    status: str | None = None,
    data: Mapping[str, Any] | None = None,
    external_event_id: str | None = None,
    **fields: Any,
) -> PaymentEvent:
    """Append one event, save what changed, audit it: inside the caller's transaction."""
    changed = []
    if status is not None and status != payment.status:
        payment.status = status
        changed.append("status")
    for name, value in fields.items():
        setattr(payment, name, value)
        changed.append(name)
    if changed:
        payment.save(update_fields=changed)
    event = PaymentEvent.objects.create(
        payment=payment,
        kind=kind,
        actor=_actor(by),
        external_event_id=external_event_id,
        data=dict(data or {}),
    )
    core_services.audit_record(
        action=Action.UPDATE,
        record=payment,
        detail={"event": kind, "status": payment.status},
        actor=by,
    )
    return event


def _refresh(payment: Payment, source: Payment) -> None:
    for name in ("status", "external_id", "detail", "paid_at", "refunded_at"):
        setattr(payment, name, getattr(source, name))


# --- Creating and starting ------------------------------------------------------------------------


def payment_create(
    *, application: Application, provider_name: str, by: User | None = None
) -> Payment:
    """The fee of ``application`` (its ``fee_yen``), to be paid with ``provider_name``.

    The provider must be one ``providers_for`` offers for the procedure and delivery; an
    application taken at the counter may always be paid there.
    """
    if application.fee_yen <= 0:
        raise PaymentError("this application has no fee to pay", field="provider")
    provider = base.provider_get(provider_name)
    offered = base.providers_for(application.procedure, delivery=application.delivery)
    at_counter = application.channel == "counter" and provider.name == "counter"
    if provider not in offered and not at_counter:
        raise PaymentError(f"{provider_name} is not offered for this procedure", field="provider")
    if application.status in ENDED:
        raise PaymentError("this application has ended: there is nothing to pay", field="status")
    with transaction.atomic():
        Application.objects.select_for_update().filter(pk=application.pk).first()
        if Payment.objects.filter(application=application).exists():
            raise PaymentError("this application already has a payment", field="provider")
        payment = Payment.objects.create(
            application=application, provider=provider.name, amount_yen=application.fee_yen
        )
        PaymentEvent.objects.create(
            payment=payment,
            kind="created",
            actor=_actor(by),
            data={"provider": provider.name, "amount_yen": payment.amount_yen},
        )
        core_services.audit_record(
            action=Action.CREATE,
            record=payment,
            detail={"provider": provider.name, "amount_yen": payment.amount_yen},
            actor=by,
        )
    return payment


def payment_start(*, payment: Payment, return_url: str) -> Start:
    """How the resident pays now: the gateway's page for a card (a new checkout after a failed
    one), instructions otherwise. ``return_url``: where the gateway sends the resident back
    (absolute; ``?result=success|cancel`` is added)."""
    provider = base.provider_get(payment.provider)
    if payment.status not in OPEN or (
        payment.status == PaymentStatus.FAILED and not provider.online
    ):
        raise PaymentError(f"this payment is {payment.status}: nothing to pay", field="status")
    start = provider.start(payment, return_url=return_url)  # a gateway call: outside the lock
    if not start.external_id:
        return start
    with transaction.atomic():
        locked = _lock(payment)
        if locked.status not in OPEN:
            raise PaymentError(f"this payment is {locked.status}: nothing to pay", field="status")
        if locked.external_id != start.external_id:
            sessions = [*locked.detail.get("sessions", []), start.external_id]
            _record(
                locked,
                "checkout.created",
                by=None,
                status=PaymentStatus.PENDING,
                data=start.data,
                external_id=start.external_id,
                detail={**locked.detail, **start.data, "sessions": sessions},
            )
    _refresh(payment, locked)
    return start


# --- Paid by hand: the counter and 定額小為替 ---------------------------------------------------


def _orders(value: Any) -> list[str]:
    if isinstance(value, str):
        value = re.split(r"[\s,、]+", value)
    if not isinstance(value, list | tuple):
        raise PaymentError("the money orders' numbers are a list", field="orders")
    numbers = [str(item).strip() for item in value if str(item).strip()]
    if not numbers:
        raise PaymentError("write the number of each money order received", field="orders")
    if len(numbers) > MAX_ORDERS:
        raise PaymentError(f"at most {MAX_ORDERS} money orders", field="orders")
    for number in numbers:
        if not ORDER_NUMBER.fullmatch(number):
            raise PaymentError(f"{number[:40]}: not a money order number", field="orders")
    if len(set(numbers)) != len(numbers):
        raise PaymentError("a money order number appears twice", field="orders")
    return numbers


def _received(payment: Payment, detail: Mapping[str, Any]) -> dict[str, Any]:
    """What the clerk received, checked: never less than the fee."""
    postal = payment.provider == "postal_order"
    raw = detail.get("amount_yen")
    if raw in (None, ""):
        if postal:
            raise PaymentError("write the total of the money orders received", field="amount_yen")
        amount = payment.amount_yen
    else:
        try:
            amount = int(str(raw).replace(",", "").strip())
        except ValueError as exc:
            raise PaymentError("the amount is a whole number of yen", field="amount_yen") from exc
    if amount < payment.amount_yen:
        raise PaymentError(
            f"{amount:,} yen received is short of the fee of {payment.amount_yen:,} yen",
            field="amount_yen",
        )
    facts: dict[str, Any] = {"amount_yen": amount, "excess_yen": amount - payment.amount_yen}
    if postal:
        facts["orders"] = _orders(detail.get("orders"))
    return facts


def mark_paid(
    *,
    payment: Payment,
    by: User,
    receipt: str = "",
    detail: Mapping[str, Any] | None = None,
) -> Payment:
    """A clerk received the fee at the counter, or 定額小為替 by post (``detail``: ``orders``,
    their numbers, and ``amount_yen``, their total). Money that arrives for an application
    already ended is recorded as to be returned."""
    provider = base.provider_get(payment.provider)
    if provider.online:
        raise PaymentError("only the card gateway marks a card payment paid", field="provider")
    receipt = receipt.strip()
    if len(receipt) > 100:
        raise PaymentError("the receipt number is at most 100 characters", field="receipt")
    facts = _received(payment, detail or {})
    note = str((detail or {}).get("note", "")).strip()[:500]
    with transaction.atomic():
        locked = _lock(payment)
        if locked.status == PaymentStatus.PENDING:
            status = PaymentStatus.PAID
        elif locked.status == PaymentStatus.VOID:
            status = PaymentStatus.REFUND_DUE  # received after the application ended
        else:
            raise PaymentError(f"this payment is {locked.status} already", field="status")
        data = {**facts, "receipt": receipt, **({"note": note} if note else {})}
        _record(
            locked,
            "paid",
            by=by,
            status=status,
            data=data,
            paid_at=timezone.now(),
            external_id=receipt or locked.external_id,
            detail={**locked.detail, **data},
        )
    _refresh(payment, locked)
    return payment


# --- Refunds and voids ----------------------------------------------------------------------------


def refund(*, payment: Payment, by: User | None, note: str = "") -> Payment:
    """Give the fee back: through the gateway for a card (retried safely: one refund per
    application), or record that a clerk returned it (counter, 定額小為替)."""
    provider = base.provider_get(payment.provider)
    payment.refresh_from_db()
    if payment.status not in REFUNDABLE:
        raise PaymentError(f"this payment is {payment.status}: nothing to refund", field="status")
    result = provider.refund(payment, by=by)  # a gateway call: outside the lock
    with transaction.atomic():
        locked = _lock(payment)
        if locked.status == PaymentStatus.REFUNDED:  # the gateway's webhook came first
            _refresh(payment, locked)
            return payment
        if locked.status not in REFUNDABLE:
            raise PaymentError(
                f"this payment is {locked.status}: nothing to refund", field="status"
            )
        data = {**result.data, **({"note": note.strip()[:500]} if note.strip() else {})}
        if result.completed:
            _record(
                locked,
                "refunded",
                by=by,
                status=PaymentStatus.REFUNDED,
                data=data,
                refunded_at=timezone.now(),
            )
        else:  # the gateway confirms later with refund.succeeded
            _record(locked, "refund.created", by=by, status=PaymentStatus.REFUND_DUE, data=data)
    _refresh(payment, locked)
    return payment


def _refund_or_due(payment: Payment, *, by: User | None) -> Payment:
    """Refund a card payment now; when the gateway fails, leave it to be refunded (staff
    retry from the application's page)."""
    try:
        return refund(payment=payment, by=by)
    except PaymentError as exc:
        logger.warning("card refund of payment %s failed: %s", payment.pk, exc)
        with transaction.atomic():
            locked = _lock(payment)
            if locked.status in REFUNDABLE:
                _record(
                    locked,
                    "refund.failed",
                    by=by,
                    status=PaymentStatus.REFUND_DUE,
                    data={"error": str(exc)[:300]},
                )
        _refresh(payment, locked)
        return payment


def payment_close(*, payment: Payment, by: User | None) -> Payment:
    """The application ended without the service (却下・取下げ): nothing paid yet is voided; a
    card payment is refunded through the gateway; money taken by hand is to be returned."""
    provider = base.provider_get(payment.provider)
    with transaction.atomic():
        locked = _lock(payment)
        if locked.status in OPEN:
            _record(locked, "void", by=by, status=PaymentStatus.VOID)
        elif locked.status == PaymentStatus.PAID and not provider.online:
            _record(
                locked,
                "refund_due",
                by=by,
                status=PaymentStatus.REFUND_DUE,
                data={"reason": locked.application.status},
            )
    _refresh(payment, locked)
    if payment.status == PaymentStatus.PAID and provider.online:
        return _refund_or_due(payment, by=by)
    return payment


# --- The card gateway's word ------------------------------------------------------------------


def _payment_for(obj: Mapping[str, Any]) -> Payment | None:
    metadata = obj.get("metadata")
    if isinstance(metadata, dict) and metadata.get("application"):
        try:
            application_id = uuid.UUID(str(metadata["application"]))
        except ValueError:
            application_id = None
        if application_id is not None:
            found = Payment.objects.filter(application_id=application_id, provider="card").first()
            if found is not None:
                return found
    session = obj.get("session") or obj.get("id")
    if isinstance(session, str) and session:
        return Payment.objects.filter(provider="card", external_id=session).first()
    return None


def _apply(
    payment: Payment, kind: str, obj: Mapping[str, Any], *, event_id: str | None, source: str
) -> tuple[PaymentEvent, bool]:
    """Apply what the gateway says to a locked payment: the event, and whether the money must
    now go back (paid after the application ended)."""
    session = str(obj.get("session") or obj.get("id") or "")
    data: dict[str, Any] = {"source": source, "object": str(obj.get("id", ""))[:100]}
    if kind == "refund.succeeded":
        data["session"] = session
        if payment.status in REFUNDABLE:
            event = _record(
                payment,
                kind,
                by=None,
                status=PaymentStatus.REFUNDED,
                data=data,
                external_event_id=event_id,
                refunded_at=timezone.now(),
            )
            return event, False
        return _record(payment, kind, by=None, data=data, external_event_id=event_id), False
    if kind in {"checkout.expired", "payment.failed"}:
        if payment.status == PaymentStatus.PENDING and session == payment.external_id:
            event = _record(
                payment,
                kind,
                by=None,
                status=PaymentStatus.FAILED,
                data=data,
                external_event_id=event_id,
            )
            return event, False
        return _record(payment, kind, by=None, data=data, external_event_id=event_id), False
    # checkout.completed: the money is taken.
    amount, currency = obj.get("amount"), obj.get("currency")
    if amount != payment.amount_yen or currency != card.CURRENCY:
        logger.error(
            "card payment %s: gateway says %s %s paid, the fee is %s JPY",
            payment.pk,
            amount,
            currency,
            payment.amount_yen,
        )
        data.update(mismatch=True, amount=amount, currency=currency)
        return _record(payment, kind, by=None, data=data, external_event_id=event_id), False
    if payment.status in OPEN:
        event = _record(
            payment,
            kind,
            by=None,
            status=PaymentStatus.PAID,
            data=data,
            external_event_id=event_id,
            paid_at=timezone.now(),
            external_id=session,
        )
        return event, False
    if payment.status == PaymentStatus.VOID:
        data["reason"] = "paid after the application ended"
        event = _record(
            payment,
            kind,
            by=None,
            status=PaymentStatus.REFUND_DUE,
            data=data,
            external_event_id=event_id,
            paid_at=timezone.now(),
            external_id=session,
        )
        return event, True
    if session != payment.external_id:
        # A second checkout paid too (an old tab): staff must return one of them.
        logger.error("card payment %s paid twice (session %s)", payment.pk, session)
        data["duplicate"] = True
    return _record(payment, kind, by=None, data=data, external_event_id=event_id), False


def webhook_receive(body: bytes, signature_header: str) -> PaymentEvent | None:
    """A signed event from the card gateway. Raises PaymentError (field "signature" or
    "body") when it is not one; returns None when it was received before or is not about a
    payment of ours (the gateway is answered 200 all the same, so it stops sending it)."""
    card.signature_verify(body, signature_header)
    try:
        event = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise PaymentError("the event is not JSON", field="body") from exc
    if not isinstance(event, dict):
        raise PaymentError("the event is not an object", field="body")
    event_id, kind = event.get("id"), event.get("type")
    data = event.get("data")
    obj = data.get("object") if isinstance(data, dict) else None
    if not isinstance(event_id, str) or not event_id or len(event_id) > 100:
        raise PaymentError("the event has no id", field="body")
    if not isinstance(kind, str) or not isinstance(obj, dict):
        raise PaymentError("the event has no type or object", field="body")
    if kind not in WEBHOOK_KINDS:
        logger.info("card gateway event %s (%s) ignored", event_id, kind)
        return None
    payment = _payment_for(obj)
    if payment is None:
        logger.warning("card gateway event %s (%s): no such payment", event_id, kind)
        return None
    try:
        with transaction.atomic():
            locked = _lock(payment)
            if PaymentEvent.objects.filter(external_event_id=event_id).exists():
                return None
            recorded, refund_now = _apply(locked, kind, obj, event_id=event_id, source="webhook")
            if refund_now:
                transaction.on_commit(lambda: _refund_after_close(locked.pk))
    except IntegrityError:  # the same event delivered twice at once: the other one counted
        return None
    return recorded


def _refund_after_close(payment_id: int) -> None:
    payment = Payment.objects.filter(pk=payment_id).first()
    if payment is not None:
        _refund_or_due(payment, by=None)


def payment_sync(*, payment: Payment) -> Payment:
    """Ask the gateway about a pending card checkout (the resident is back on our page before
    its webhook): read with our API key, so its answer is trusted as the webhook is."""
    if payment.provider != "card" or payment.status != PaymentStatus.PENDING:
        return payment
    if not payment.external_id:
        return payment
    session = card.session_fetch(payment.external_id)
    if session.get("id") != payment.external_id:
        raise PaymentError("the card gateway answered about another session", field="gateway")
    if session.get("status") != "complete" or session.get("payment_status") != "paid":
        return payment
    with transaction.atomic():
        locked = _lock(payment)
        if locked.status == PaymentStatus.PENDING and locked.external_id == session["id"]:
            _apply(locked, "checkout.completed", session, event_id=None, source="poll")
    _refresh(payment, locked)
    return payment


def payment_of(application: Application) -> Payment | None:
    return Payment.objects.filter(application=application).first()
