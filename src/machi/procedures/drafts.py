"""Residents' applications in progress: saved after each step, resumed with a secret link.

The link's secret is shown once (and mailed when the resident gave an address); we keep only
its hash, so a copy of the database cannot resume anyone's draft. The browser that started a
draft holds the secret in its session.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from typing import Any

from django.conf import settings
from django.http import HttpRequest
from django.utils import timezone

from machi.core import services as core_services
from machi.core.roles import Action
from machi.procedures.identity.base import Identity
from machi.procedures.models import Draft, Procedure

SESSION_KEY = "procedures_drafts"


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def lifetime() -> dt.timedelta:
    return dt.timedelta(days=settings.MACHI_PROCEDURES_DRAFT_DAYS)


def draft_start(request: HttpRequest, procedure: Procedure, identity: Identity | None) -> Draft:
    token = secrets.token_urlsafe(24)
    draft = Draft.objects.create(
        procedure=procedure,
        token_hash=_hash(token),
        identity=identity.as_dict() if identity else {},
        expires_at=timezone.now() + lifetime(),
    )
    _remember(request, draft, token)
    return draft


def _remember(request: HttpRequest, draft: Draft, token: str) -> None:
    held = dict(request.session.get(SESSION_KEY, {}))
    held[str(draft.pk)] = token
    request.session[SESSION_KEY] = held


def token_of(request: HttpRequest, draft: Draft) -> str:
    return str(request.session.get(SESSION_KEY, {}).get(str(draft.pk), ""))


def draft_of(request: HttpRequest, draft_id: Any) -> Draft | None:
    """The draft, if this browser holds its secret and it has not expired."""
    token = request.session.get(SESSION_KEY, {}).get(str(draft_id))
    if not token:
        return None
    return (
        Draft.objects.select_related("procedure")
        .filter(pk=draft_id, token_hash=_hash(token), expires_at__gt=timezone.now())
        .first()
    )


def draft_resume(request: HttpRequest, token: str) -> Draft | None:
    """Open a saved draft from its link, in this browser."""
    draft = (
        Draft.objects.select_related("procedure")
        .filter(token_hash=_hash(token), expires_at__gt=timezone.now())
        .first()
    )
    if draft is not None:
        _remember(request, draft, token)
        core_services.audit_record(action=Action.READ, record=draft, detail={"resumed": True})
    return draft


def draft_save(draft: Draft, **changes: Any) -> Draft:
    for name, value in changes.items():
        setattr(draft, name, value)
    draft.updated_at = timezone.now()
    draft.expires_at = draft.updated_at + lifetime()
    draft.save()
    core_services.audit_record(action=Action.UPDATE, record=draft, detail={"draft": True})
    return draft


def draft_forget(request: HttpRequest, draft: Draft) -> None:
    held = dict(request.session.get(SESSION_KEY, {}))
    held.pop(str(draft.pk), None)
    request.session[SESSION_KEY] = held
    draft.delete()


def drafts_expire(now: dt.datetime | None = None) -> int:
    """Delete drafts past their date (the nightly retention job)."""
    deleted, _ = Draft.objects.filter(expires_at__lte=now or timezone.now()).delete()
    return deleted
