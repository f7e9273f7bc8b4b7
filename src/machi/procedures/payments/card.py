"""Card payments through a gateway's hosted payment page (カード決済).

The resident never types a card number into Machi: ``start`` creates a checkout session at the
gateway and sends the resident to its page; the gateway then tells Machi what happened with a
signed webhook (``Card-Signature: t=<unix time>,v1=<hex HMAC-SHA256 of "t.body">``, the scheme
Stripe made common). Only that webhook, or the gateway's API read back with our key, marks a
payment paid: the resident's return to our page proves nothing.

The API (``MACHI_CARD_API_URL``, ``Authorization: Bearer MACHI_CARD_API_KEY``):

* ``POST /v1/checkout/sessions`` {amount, currency, reference, success_url, cancel_url,
  metadata} → a session {id, url, status: open|complete|expired, payment_status};
* ``GET /v1/checkout/sessions/{id}``;
* ``POST /v1/refunds`` {session, amount, metadata} → {id, status: succeeded|pending}.

Writes carry an ``Idempotency-Key`` so a retry after a lost answer does nothing twice. The key
is made from the application's UUID, not the payment's number: numbers start again after a
database reset, and a gateway remembers keys for a day. ``peers/card_gateway.py`` is a
loopback fake of this gateway for tests and the demo.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Final

from django.conf import settings
from django.utils.translation import gettext_lazy as _

from machi.procedures.payments.base import PaymentError, Provider, Refund, Start, register

if TYPE_CHECKING:
    from machi.core.models import User
    from machi.procedures.models import Payment, Procedure

logger = logging.getLogger(__name__)

SIGNATURE_HEADER: Final = "Card-Signature"
# A signed webhook older (or newer) than this is refused: a captured one cannot be replayed.
TOLERANCE: Final = 300
TIMEOUT: Final = 10.0
CURRENCY: Final = "JPY"


def api_url() -> str:
    return str(getattr(settings, "MACHI_CARD_API_URL", "") or "").rstrip("/")


def configured() -> bool:
    return bool(api_url())


def signature_header(secret: str, body: bytes, *, timestamp: int | None = None) -> str:
    """The ``Card-Signature`` value the gateway sends for ``body`` (tests use it too)."""
    t = int(time.time()) if timestamp is None else timestamp
    digest = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={t},v1={digest}"


def signature_verify(body: bytes, header: str, *, now: float | None = None) -> None:
    """Raise PaymentError (field "signature") unless ``header`` signs ``body`` with our secret
    within ``TOLERANCE`` seconds. Several ``v1`` are allowed: the gateway sends one per secret
    while a secret is being rotated."""
    secret = str(getattr(settings, "MACHI_CARD_WEBHOOK_SECRET", "") or "")
    if not secret:
        raise PaymentError("no webhook secret is configured", field="signature")
    timestamp: int | None = None
    signatures: list[str] = []
    for part in header.split(","):
        key, _sep, value = part.strip().partition("=")
        if key == "t":
            try:
                timestamp = int(value)
            except ValueError:
                timestamp = None
        elif key == "v1" and value:
            signatures.append(value)
    if timestamp is None or not signatures:
        raise PaymentError("the signature header is malformed", field="signature")
    moment = time.time() if now is None else now
    if abs(moment - timestamp) > TOLERANCE:
        raise PaymentError("the signature is too old (or from the future)", field="signature")
    expected = hmac.new(
        secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256
    ).hexdigest()
    if not any(hmac.compare_digest(expected, candidate) for candidate in signatures):
        raise PaymentError("the signature does not match", field="signature")


def _call(
    method: str, path: str, body: Mapping[str, Any] | None = None, *, key: str = ""
) -> dict[str, Any]:
    """One request to the gateway's API: its JSON answer, or a PaymentError that says why."""
    base = api_url()
    if not base.startswith(("http://", "https://")):
        raise PaymentError("card payments are not configured", field="provider")
    headers = {
        "Authorization": f"Bearer {getattr(settings, 'MACHI_CARD_API_KEY', '')}",
        "Accept": "application/json",
    }
    data = None
    if body is not None:
        data = json.dumps(body, separators=(",", ":"), sort_keys=True).encode()
        headers["Content-Type"] = "application/json"
    if key:
        headers["Idempotency-Key"] = key
    request = urllib.request.Request(base + path, data=data, method=method, headers=headers)  # noqa: S310 - scheme checked above
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT) as response:  # noqa: S310
            raw = response.read()
    except urllib.error.HTTPError as exc:
        message = _error_message(exc)
        logger.warning("card gateway %s %s answered %s: %s", method, path, exc.code, message)
        raise PaymentError(
            f"the card gateway refused the request ({exc.code}: {message})", field="gateway"
        ) from exc
    except (OSError, ValueError) as exc:  # refused, timed out, reset, a bad URL
        logger.warning("card gateway %s %s unreachable: %s", method, path, exc)
        raise PaymentError(
            "the card gateway cannot be reached; try again in a few minutes", field="gateway"
        ) from exc
    try:
        answer = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise PaymentError(
            "the card gateway answered something unreadable", field="gateway"
        ) from exc
    if not isinstance(answer, dict):
        raise PaymentError("the card gateway answered something unreadable", field="gateway")
    return answer


def _error_message(exc: urllib.error.HTTPError) -> str:
    try:
        body = json.loads(exc.read() or b"{}")
    except (ValueError, UnicodeDecodeError, OSError):
        return exc.reason if isinstance(exc.reason, str) else "error"
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict) and error.get("message"):
        return str(error["message"])[:200]
    return exc.reason if isinstance(exc.reason, str) else "error"


def _with_query(url: str, **params: str) -> str:
    parts = urllib.parse.urlsplit(url)
    query = urllib.parse.parse_qsl(parts.query, keep_blank_values=True)
    query += list(params.items())
    return urllib.parse.urlunsplit(parts._replace(query=urllib.parse.urlencode(query)))


def attempt_of(payment: Payment) -> int:
    """Which checkout this is: a new session (and key) after a failed or expired one."""
    from machi.procedures.models import PaymentStatus

    attempt = int(payment.detail.get("attempt", 0) or 0)
    if attempt == 0 or payment.status == PaymentStatus.FAILED:
        attempt += 1
    return attempt


def session_fetch(session_id: str) -> dict[str, Any]:
    """The gateway's own word on a checkout session (read with our key: to be trusted)."""
    return _call("GET", f"/v1/checkout/sessions/{urllib.parse.quote(session_id, safe='')}")


class CardProvider(Provider):
    name = "card"
    label = _("Card (クレジットカード)")
    online = True

    def available(self, procedure: Procedure, *, delivery: str | None = None) -> bool:
        return configured()

    def start(self, payment: Payment, *, return_url: str) -> Start:
        if not return_url.startswith(("http://", "https://")):
            raise PaymentError("the return address must be absolute", field="return_url")
        application = payment.application
        attempt = attempt_of(payment)
        session = _call(
            "POST",
            "/v1/checkout/sessions",
            {
                "amount": payment.amount_yen,
                "currency": CURRENCY,
                "reference": application.reference,
                "success_url": _with_query(return_url, result="success"),
                "cancel_url": _with_query(return_url, result="cancel"),
                "metadata": {"application": str(application.pk), "attempt": str(attempt)},
            },
            key=f"machi-checkout-{application.pk}-{attempt}",
        )
        url, session_id = session.get("url"), session.get("id")
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            raise PaymentError("the card gateway gave no payment page", field="gateway")
        if not isinstance(session_id, str) or not session_id:
            raise PaymentError("the card gateway gave no session id", field="gateway")
        return Start(
            redirect_url=url,
            external_id=session_id,
            data={"attempt": attempt, "session": session_id},
        )

    def refund(self, payment: Payment, *, by: User | None) -> Refund:
        if not payment.external_id:
            raise PaymentError("this card payment has no checkout session", field="status")
        answer = _call(
            "POST",
            "/v1/refunds",
            {
                "session": payment.external_id,
                "amount": payment.amount_yen,
                "metadata": {"application": str(payment.application_id)},
            },
            # One refund per application, however often it is retried.
            key=f"machi-refund-{payment.application_id}",
        )
        status = answer.get("status")
        if status not in {"succeeded", "pending"}:
            raise PaymentError(
                f"the card gateway did not refund (status {status})", field="gateway"
            )
        return Refund(
            completed=status == "succeeded",
            external_id=str(answer.get("id", "")),
            data={"refund": str(answer.get("id", "")), "status": status},
        )


register(CardProvider())
