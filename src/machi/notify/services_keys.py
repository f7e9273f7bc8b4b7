"""API keys of the notify room: other systems send broadcasts and read their status.

Like core's bearer tokens (``core.services.token_create``): the secret is shown once, only its
SHA-256 digest is kept, with a short prefix to recognise it in lists. A key says in its text
whether it is live or test (``machi_notify_live_…`` / ``machi_notify_test_…``), as GOV.UK
Notify's do, so a test key pasted into production is noticed by whoever reads it.
"""

from __future__ import annotations

import hashlib
import secrets

from django.db import transaction
from django.utils import timezone

from machi.core import services as core_services
from machi.core.models import User
from machi.core.roles import Action
from machi.notify.models import ApiKey, ApiKeyKind
from machi.notify.services import NotifyError

KEY_PREFIX = "machi_notify_"  # a label, not a secret
LAST_USED_EVERY = 60  # seconds: a busy client must not turn every request into a write


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def api_key_create(*, name: str, kind: str, created_by: User) -> tuple[ApiKey, str]:
    """A new key; the secret is returned once and never stored."""
    name = name.strip()
    if not name:
        raise NotifyError("a key needs a name", field="name")
    if kind not in ApiKeyKind.values:
        raise NotifyError(f"unknown key kind {kind!r}", field="kind")
    random_part = secrets.token_urlsafe(32)
    secret = f"{KEY_PREFIX}{kind}_{random_part}"
    with transaction.atomic():
        key = ApiKey.objects.create(
            name=name[:64],
            kind=kind,
            prefix=random_part[:8],
            digest=_digest(secret),
            created_by=created_by,
        )
        core_services.audit_record(
            action=Action.CREATE, record=key, detail={"kind": kind}, actor=created_by
        )
    return key, secret


def api_key_revoke(*, key: ApiKey) -> ApiKey:
    """Stop a key at once (kept, revoked, for the record)."""
    if key.revoked_at is None:
        with transaction.atomic():
            key.revoked_at = timezone.now()
            key.save(update_fields=["revoked_at"])
            core_services.audit_record(action=Action.UPDATE, record=key, detail={"revoked": True})
    return key


def api_key_authenticate(secret: str) -> ApiKey | None:
    """The key this secret belongs to, if it is not revoked."""
    if not isinstance(secret, str) or not secret.startswith(KEY_PREFIX):
        return None
    key = ApiKey.objects.filter(digest=_digest(secret), revoked_at__isnull=True).first()
    if key is None:
        return None
    now = timezone.now()
    if key.last_used_at is None or (now - key.last_used_at).total_seconds() > LAST_USED_EVERY:
        ApiKey.objects.filter(pk=key.pk).update(last_used_at=now)
        key.last_used_at = now
    return key
