"""Writes of the core room: audit log, municipality, facilities, staff, roles, tokens, 2FA."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable, Sequence
from decimal import Decimal
from typing import Any

import pyotp
from django.contrib.auth import password_validation
from django.db import models, transaction
from django.utils import timezone

from machi.core import context, fastsql, lgcode, memo
from machi.core.models import (
    ApiToken,
    Area,
    AuditEvent,
    Facility,
    Job,
    Municipality,
    RoleAssignment,
    TotpDevice,
    User,
)
from machi.core.roles import SCOPED_ROLES, Action, Role

# --- Audit log (監査ログ) -----------------------------------------------------------------------


def _event(
    action: Action | str,
    record: models.Model | None,
    *,
    object_type: str,
    detail: dict[str, Any] | None,
    actor: Any,
) -> AuditEvent:
    ctx = context.current()
    who = actor if actor is not None else ctx.user
    authenticated = who is not None and getattr(who, "is_authenticated", False)
    return AuditEvent(
        actor_id=who.pk if authenticated else None,
        actor_username=who.get_username() if authenticated else "",
        action=Action(action),
        object_type=object_type or (record._meta.label_lower if record is not None else ""),
        object_id=str(record.pk) if record is not None and record.pk is not None else "",
        # Records of people (evacuees, applicants) are named by id only: auditors may read
        # the log, not the people in it.
        object_repr=str(record)[:200]
        if record is not None and getattr(record, "AUDIT_REPR", True)
        else "",
        ip_address=ctx.ip_address,
        channel=ctx.channel,
        request_id=ctx.request_id,
        detail=detail or {},
    )


def audit_event(
    *,
    action: Action | str,
    record: models.Model | None = None,
    detail: dict[str, Any] | None = None,
) -> AuditEvent:
    """An unsaved event, for the one hot path that writes it in its own statement."""
    return _event(action, record, object_type="", detail=detail, actor=None)


def audit_record(
    *,
    action: Action | str,
    record: models.Model | None = None,
    object_type: str = "",
    detail: dict[str, Any] | None = None,
    actor: Any = None,
) -> AuditEvent:
    """Append one event. The actor and address come from the current request or command."""
    event = _event(action, record, object_type=object_type, detail=detail, actor=actor)
    fastsql.insert(event)  # the log is written on every read and write: keep it cheap
    return event


def audit_record_many(
    *, action: Action | str, records: Iterable[models.Model], actor: Any = None
) -> int:
    """One event per record, in one INSERT: for lists and exports of personal data."""
    events = [
        _event(action, record, object_type="", detail=None, actor=actor) for record in records
    ]
    AuditEvent.objects.bulk_create(events, batch_size=500)
    return len(events)


# --- Municipality and places --------------------------------------------------------------------


@transaction.atomic
def municipality_init(*, code: str | int) -> Municipality:
    """Set up (or rename) the municipality served by this installation from its 団体コード."""
    valid = lgcode.validate(code)
    found = lgcode.lookup(valid)
    if found is None:
        raise lgcode.LgCodeError(f"{valid} is not in the bundled list of local governments")
    existing = Municipality.objects.exclude(lgcode=valid).first()
    if existing is not None:
        raise ValueError(
            f"this installation already serves {existing}; one installation serves one municipality"
        )
    municipality, created = Municipality.objects.update_or_create(
        lgcode=valid,
        defaults={
            "name": found.name,
            "name_kana": found.name_kana,
            "prefecture": found.prefecture,
            "latitude": Decimal(found.latitude) if found.latitude else None,
            "longitude": Decimal(found.longitude) if found.longitude else None,
            "website": found.website,
        },
    )
    audit_record(action=Action.CREATE if created else Action.UPDATE, record=municipality)
    return municipality


def area_get_or_create(*, municipality: Municipality, name: str, name_kana: str = "") -> Area:
    area, created = Area.objects.get_or_create(
        municipality=municipality, name=name, defaults={"name_kana": name_kana}
    )
    if created:
        audit_record(action=Action.CREATE, record=area)
    return area


FACILITY_FIELDS = [
    "name",
    "name_kana",
    "name_en",
    "address",
    "area",
    "latitude",
    "longitude",
    "is_shelter",
    "is_evacuation_site",
    "is_welfare_shelter",
    "is_wifi_site",
    "is_office",
    "source",
]


def facility_upsert(*, municipality: Municipality, code: str, **fields: Any) -> Facility:
    """Create or update a facility by its code; kinds are only ever added, never dropped."""
    unknown = set(fields) - set(FACILITY_FIELDS)
    if unknown:
        raise TypeError(f"unknown facility fields: {sorted(unknown)}")
    facility = Facility.objects.filter(municipality=municipality, code=code).first()
    if facility is None:
        facility = Facility(municipality=municipality, code=code, **fields)
        facility.full_clean()
        facility.save()
        audit_record(action=Action.CREATE, record=facility)
        return facility
    changed = []
    for name, value in fields.items():
        if name.startswith("is_") and not value:
            continue
        if getattr(facility, name) != value:
            setattr(facility, name, value)
            changed.append(name)
    if changed:
        facility.full_clean()
        facility.save()
        audit_record(action=Action.UPDATE, record=facility, detail={"fields": changed})
    return facility


# --- Staff, roles ---------------------------------------------------------------------------


@transaction.atomic
def staff_create(
    *,
    username: str,
    password: str | None,
    display_name: str = "",
    department: str = "",
    roles: Sequence[Role] = (),
    facilities: Sequence[Facility] = (),
) -> User:
    user = User(username=username, display_name=display_name, department=department)
    if password:
        # The same rules as the back office's forms (length, common, numeric, like the name).
        password_validation.validate_password(password, user)
        user.set_password(password)
    else:
        user.set_unusable_password()
    user.save()
    audit_record(action=Action.CREATE, record=user)
    for role in roles:
        role_grant(user=user, role=role, facilities=facilities if role in SCOPED_ROLES else ())
    return user


@transaction.atomic
def role_grant(*, user: User, role: Role, facilities: Sequence[Facility] = ()) -> RoleAssignment:
    role = Role(role)
    if role in SCOPED_ROLES and not facilities:
        raise ValueError(f"the role {role.label} needs at least one facility")
    assignment, _ = RoleAssignment.objects.get_or_create(user=user, role=role)
    if facilities:
        assignment.facilities.add(*facilities)
    if role == Role.SYSADMIN and not user.is_superuser:
        # The Django admin is the administrators' back office, with every model permission.
        user.is_staff = user.is_superuser = True
        user.save(update_fields=["is_staff", "is_superuser"])
    user.__dict__.pop("_machi_grants", None)
    memo.forget("token:")
    audit_record(
        action=Action.UPDATE,
        record=user,
        detail={"granted": role.value, "facilities": [f.pk for f in facilities]},
    )
    return assignment


# --- API tokens -------------------------------------------------------------------------------

TOKEN_PREFIX = "machi_"  # noqa: S105 - a label, not a secret


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def token_create(*, user: User, name: str, expires_at: Any = None) -> tuple[ApiToken, str]:
    """A new bearer token; the secret is returned once and never stored."""
    if not user.is_active:
        raise ValueError(f"{user.username} is not active")
    key = secrets.token_urlsafe(32)
    secret = f"{TOKEN_PREFIX}{key}"
    token = ApiToken.objects.create(
        user=user, name=name, prefix=key[:8], digest=_digest(secret), expires_at=expires_at
    )
    audit_record(action=Action.CREATE, record=token, detail={"user": user.username})
    return token, secret


def token_authenticate(secret: str) -> User | None:
    """The active user of a valid token. Remembered a few seconds per process (core.memo)."""
    if not secret.startswith(TOKEN_PREFIX):
        return None
    return memo.remember(f"token:{_digest(secret)}", lambda: _token_user(secret))


def _token_user(secret: str) -> User | None:
    token = (
        ApiToken.objects.select_related("user")
        .filter(digest=_digest(secret), revoked_at__isnull=True)
        .first()
    )
    now = timezone.now()
    if token is None or not token.user.is_active:
        return None
    if token.expires_at is not None and token.expires_at <= now:
        return None
    # Write at most once a minute per token: a busy script must not turn reads into writes.
    if token.last_used_at is None or (now - token.last_used_at).total_seconds() > 60:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
    return token.user


def token_revoke(*, token: ApiToken) -> None:
    token.revoked_at = timezone.now()
    token.save(update_fields=["revoked_at"])
    memo.forget("token:")
    audit_record(action=Action.DELETE, record=token)


# --- Two-factor authentication (TOTP, RFC 6238) ----------------------------------------------

TOTP_ISSUER = "Machi"


def totp_start(*, user: User) -> TotpDevice:
    """The user's authenticator; a new unconfirmed secret if they have none yet."""
    device, _ = TotpDevice.objects.get_or_create(
        user=user, defaults={"secret": pyotp.random_base32()}
    )
    return device


def totp_provisioning_uri(device: TotpDevice) -> str:
    return pyotp.TOTP(device.secret).provisioning_uri(
        name=device.user.get_username(), issuer_name=TOTP_ISSUER
    )


def totp_verify(*, device: TotpDevice, code: str) -> bool:
    """Accept a code of the current step (±1 for clock drift), each step only once."""
    code = "".join(ch for ch in code if ch.isdigit())
    if len(code) != 6:
        return False
    totp = pyotp.TOTP(device.secret)
    now = timezone.now()
    step = int(now.timestamp()) // totp.interval
    for candidate in (step, step - 1, step + 1):
        if candidate <= device.last_step:
            continue
        if secrets.compare_digest(totp.generate_otp(candidate), code):
            updated = TotpDevice.objects.filter(pk=device.pk, last_step__lt=candidate).update(
                last_step=candidate, confirmed_at=device.confirmed_at or now
            )
            if updated:
                device.refresh_from_db()
                return True
            return False
    return False


EDITABLE_FACILITY_FIELDS = frozenset({"name_kana", "name_en", "address", "latitude", "longitude"})


@transaction.atomic
def facility_update(*, facility: Facility, **changes: Any) -> Facility:
    """Change descriptive fields of a facility (not its code or kinds, which imports own)."""
    unknown = set(changes) - EDITABLE_FACILITY_FIELDS
    if unknown:
        raise TypeError(f"not editable: {sorted(unknown)}")
    changed = [name for name, value in changes.items() if getattr(facility, name) != value]
    for name in changed:
        setattr(facility, name, changes[name])
    if changed:
        facility.full_clean()
        facility.save()
        audit_record(action=Action.UPDATE, record=facility, detail={"fields": changed})
    return facility


# --- Jobs -----------------------------------------------------------------------------------


def job_start(*, kind: str, title: str, created_by: User | None, **params: Any) -> Job:
    """Record a job and hand it to the worker once the surrounding transaction commits."""
    from machi.core import jobs

    if kind not in jobs.kinds():
        raise ValueError(f"unknown job kind {kind!r}")
    job = Job.objects.create(kind=kind, title=title, params=params, created_by=created_by)
    transaction.on_commit(lambda: jobs.run_job(str(job.pk)))
    return job
