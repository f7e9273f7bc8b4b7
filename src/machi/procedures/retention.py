"""The retention policy: personal data of finished applications is removed after a period.

``MACHI_PROCEDURES_RETENTION_DAYS`` (default 1,095: three years) after an application was
finished (sent, rejected or withdrawn), its applicant's name, e-mail, identifier, address and
answers are removed; what statistics need stays (procedure, channel, dates, out of hours,
status). Residents' unsent drafts go once past their date (MACHI_PROCEDURES_DRAFT_DAYS). The
status history is append-only and keeps no personal data of its own (staff write its messages
to the applicant: they are told not to repeat personal details there). The worker runs it each
night; ``machi procedures_retention`` runs it by hand.
"""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from machi.core import services as core_services
from machi.core.roles import Action
from machi.procedures.models import Application
from machi.procedures.services import FINISHED

REMOVED = "（削除済み）"


def retention_days() -> int:
    return int(getattr(settings, "MACHI_PROCEDURES_RETENTION_DAYS", 1095))


def due(*, now: dt.datetime | None = None, days: int | None = None) -> QuerySet[Application]:
    cutoff = (now or timezone.now()) - dt.timedelta(
        days=days if days is not None else retention_days()
    )
    return Application.objects.filter(
        status__in=FINISHED, completed_at__lt=cutoff, anonymised_at__isnull=True
    )


def anonymise(*, now: dt.datetime | None = None, days: int | None = None, batch: int = 1000) -> int:
    """Remove the personal data of the applications past their retention; returns how many."""
    done = 0
    while True:
        ids = list(due(now=now, days=days).values_list("pk", flat=True)[:batch])
        if not ids:
            return done
        with transaction.atomic():
            Application.objects.filter(pk__in=ids).update(
                applicant_name=REMOVED,
                applicant_email="",
                applicant_identifier="",
                applicant_address="",
                answers={},
                anonymised_at=now or timezone.now(),
            )
            core_services.audit_record(
                action=Action.DELETE,
                object_type="procedures.application",
                detail={"anonymised": len(ids), "retention_days": days or retention_days()},
            )
        done += len(ids)
