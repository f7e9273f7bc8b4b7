"""What the rest of the room calls when an application's life touches its fee."""

from __future__ import annotations

import logging

from machi.core.models import User
from machi.procedures.models import Application, Payment, Status

logger = logging.getLogger(__name__)


def on_status(application: Application, status: str, by: User | None) -> None:
    """Called after a status change is committed: a rejected or withdrawn application's fee
    is voided (not paid yet), refunded through the gateway (card; when the gateway fails, left
    to be refunded and retried by staff), or left to be returned by a clerk (counter,
    定額小為替)."""
    if status not in {Status.REJECTED, Status.WITHDRAWN}:
        return
    payment = Payment.objects.filter(application_id=application.pk).first()
    if payment is None:
        return
    from machi.procedures.payments import services

    try:
        services.payment_close(payment=payment, by=by)
    except Exception:
        # The status change is committed and the applicant is still to be told: a fee that
        # could not be settled here stays visible on the application's page.
        logger.exception("the fee of application %s could not be settled", application.pk)
