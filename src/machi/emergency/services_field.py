"""Writes of incident reports (被害報告) and tasks between departments (依頼).

Every report, status change, department assignment and task is audited and written to the
disaster's chronology, so HQ reads one timeline and each record shows its own history.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from pathlib import PurePath
from typing import Any, Protocol

from django.core.files import File
from django.core.files.storage import default_storage
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from machi.core import services as core_services
from machi.core.models import Area, Municipality, User
from machi.core.roles import Action
from machi.emergency import selectors
from machi.emergency.models import (
    ChronologyKind,
    Department,
    Incident,
    IncidentCategory,
    IncidentPhoto,
    IncidentSeverity,
    IncidentStatus,
    Task,
    TaskStatus,
)
from machi.emergency.selectors_field import (
    CATEGORY_JA,
    SEVERITY_JA,
    STATUS_JA,
    TASK_STATUS_JA,
    task_status_label,
)
from machi.emergency.services import chronology_record


class FieldError(ValueError):
    """A report or task that cannot be recorded; the message says why, ``field`` where."""

    def __init__(self, message: str, *, field: str = "") -> None:
        super().__init__(message)
        self.field = field


# --- Photos: what the bytes say they are, not what the name says --------------------------------

PHOTO_MAX_BYTES = 10 * 1024 * 1024
PHOTOS_PER_REPORT = 10
PHOTO_EXTENSIONS = {
    "image/jpeg": ".jpg",
    "image/png": ".png",
    "image/webp": ".webp",
    "image/heic": ".heic",
}
# ISO/IEC 23008-12 (HEIF) brands of HEVC-coded images, as iPhones write them (ftyp box).
_HEIC_BRANDS = {b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"hevm", b"hevs"}
_HEIF_GENERIC = {b"mif1", b"msf1"}  # generic HEIF: HEIC only if a compatible brand says so


def photo_content_type(head: bytes) -> str | None:
    """The image type that the first bytes of a file show (its magic number), or None.

    Only JPEG, PNG, WebP and HEIC are accepted: what phones' cameras write and what staff
    can open. A text file named .jpg is None.
    """
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if len(head) >= 12 and head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    if len(head) >= 12 and head[4:8] == b"ftyp":
        box_size = int.from_bytes(head[:4], "big")
        major = head[8:12]
        # The compatible brands follow the major brand and its 4-byte minor version.
        end = min(max(box_size, 16), len(head))
        brands = {head[i : i + 4] for i in range(16, end - 3, 4)}
        if major in _HEIC_BRANDS or (major in _HEIF_GENERIC and brands & _HEIC_BRANDS):
            return "image/heic"
    return None


class Upload(Protocol):
    """What a photo upload must offer: Django's UploadedFile, or a File opened by a command."""

    name: str | None
    size: int | None

    def seek(self, offset: int, whence: int = 0) -> int: ...

    def read(self, size: int = -1) -> bytes: ...


@dataclass(frozen=True)
class CheckedPhoto:
    upload: Upload
    content_type: str
    size: int


def photo_check(upload: Upload, *, field: str = "photos") -> CheckedPhoto:
    """Refuse a photo that is too large or whose bytes are not an accepted image type."""
    name = PurePath(upload.name or "").name or _("the photo")
    size = upload.size or 0
    if size > PHOTO_MAX_BYTES:
        raise FieldError(
            _("%(name)s is larger than 10 MB.") % {"name": name},
            field=field,
        )
    if size == 0:
        raise FieldError(_("%(name)s is empty.") % {"name": name}, field=field)
    upload.seek(0)
    head = upload.read(64)
    upload.seek(0)
    content_type = photo_content_type(head)
    if content_type is None:
        raise FieldError(
            _("%(name)s is not a JPEG, PNG, WebP or HEIC photo.") % {"name": name},
            field=field,
        )
    _check_header(upload, content_type, name=name, field=field)
    return CheckedPhoto(upload, content_type, size)


# A phone's camera writes 12 to 50 megapixels; more is a "decompression bomb": a few bytes that
# declare an image too large to draw, for the browser or PDF that opens it.
PHOTO_MAX_PIXELS = 100_000_000
_PIL_FORMATS = {"image/jpeg": "JPEG", "image/png": "PNG", "image/webp": "WEBP"}


def _check_header(upload: Upload, content_type: str, *, name: str, field: str) -> None:
    """Read the image's header (never its pixels) and refuse one that declares more than
    PHOTO_MAX_PIXELS. A header the image library cannot read is left to the first bytes, which
    already decided the type: the file is stored under our name and served as that type only.
    HEIC is taken on its first bytes too: the library reads no HEIF without a plug-in."""
    pil_format = _PIL_FORMATS.get(content_type)
    if pil_format is None:
        return
    import warnings

    from PIL import Image

    too_large = FieldError(
        _("%(name)s declares an image of more than %(limit)s megapixels.")
        % {"name": name, "limit": PHOTO_MAX_PIXELS // 1_000_000},
        field=field,
    )
    upload.seek(0)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(upload, formats=[pil_format]) as image:  # type: ignore[arg-type]
                width, height = image.size
    except Image.DecompressionBombError as exc:
        raise too_large from exc
    except (OSError, SyntaxError, ValueError, EOFError):  # UnidentifiedImageError is an OSError
        return
    finally:
        upload.seek(0)
    if width * height > PHOTO_MAX_PIXELS:
        raise too_large


def _store(photo: IncidentPhoto, checked: CheckedPhoto) -> None:
    # The name is ours, never the client's: the client's name may hold a path or a script.
    name = f"{photo.pk}{PHOTO_EXTENSIONS[checked.content_type]}"
    checked.upload.seek(0)
    photo.image.save(name, File(checked.upload, name=name), save=False)  # type: ignore[arg-type]


def _write_photo(
    incident: Incident,
    checked: CheckedPhoto,
    uploaded_by: User | None,
    photo_id: uuid.UUID,
    written: list[str],
) -> IncidentPhoto:
    """Store the file, then its row. ``written`` collects the files, for removal on failure."""
    photo = IncidentPhoto(
        id=photo_id,
        incident=incident,
        content_type=checked.content_type,
        size=checked.size,
        uploaded_by=uploaded_by,
    )
    _store(photo, checked)
    written.append(photo.image.name)
    photo.save(force_insert=True)
    core_services.audit_record(
        action=Action.CREATE,
        record=photo,
        detail={"incident": str(incident.pk), "content_type": checked.content_type},
    )
    return photo


def _remove(written: list[str]) -> None:
    """The transaction was rolled back: files without their rows must not stay behind."""
    for name in written:
        default_storage.delete(name)


# --- Incidents (被害報告) -----------------------------------------------------------------------

# 報告 → 確認 → 対応中 → 完了: forwards, skipping steps where the field already did them,
# and back from 完了 to 対応中 when the damage turns out not to be over (再開).
INCIDENT_TRANSITIONS: dict[str, frozenset[str]] = {
    IncidentStatus.REPORTED: frozenset(
        {IncidentStatus.CONFIRMED, IncidentStatus.IN_PROGRESS, IncidentStatus.DONE}
    ),
    IncidentStatus.CONFIRMED: frozenset({IncidentStatus.IN_PROGRESS, IncidentStatus.DONE}),
    IncidentStatus.IN_PROGRESS: frozenset({IncidentStatus.DONE}),
    IncidentStatus.DONE: frozenset({IncidentStatus.IN_PROGRESS}),
}
_SIX_PLACES = Decimal("0.000001")


def incident_next_statuses(status: str) -> list[str]:
    """The statuses an incident may move to from ``status``, in the order of the workflow."""
    allowed = INCIDENT_TRANSITIONS.get(status, frozenset())
    return [value for value in IncidentStatus.values if value in allowed]


def _place(incident: Incident) -> str:
    """Where, for the chronology every role reads: the 町丁目 only. A street address may be
    someone's home and the title free text about people; those stay on the incident, behind
    its own access rules."""
    return incident.area.name if incident.area is not None else ""


@dataclass(frozen=True)
class ReportResult:
    incident: Incident
    created: bool


def _coordinate(value: Decimal | float | str | None, field: str, limit: int) -> Decimal | None:
    if value is None or value == "":
        return None
    try:
        number = Decimal(str(value)).quantize(_SIX_PLACES, rounding=ROUND_HALF_UP)
    except ArithmeticError as exc:
        raise FieldError(_("Enter a number."), field=field) from exc
    if not number.is_finite() or abs(number) > limit:
        raise FieldError(
            _("Enter a value between -%(limit)s and %(limit)s.") % {"limit": limit}, field=field
        )
    return number


def incident_report(
    *,
    incident_id: uuid.UUID,
    category: IncidentCategory | str,
    title: str,
    reported_by: User | None,
    severity: IncidentSeverity | int = IncidentSeverity.MEDIUM,
    description: str = "",
    latitude: Decimal | float | str | None = None,
    longitude: Decimal | float | str | None = None,
    address: str = "",
    area: Area | None = None,
    department: Department | None = None,
    photos: Sequence[Upload] = (),
) -> ReportResult:
    """Record what someone saw in the field, once per client id.

    The id is made by the phone (or by the form when it is shown), so a report sent twice
    over a bad connection answers the first record and writes nothing more.
    """
    earlier = Incident.objects.filter(pk=incident_id).first()
    if earlier is not None:
        return ReportResult(earlier, created=False)
    title = " ".join(title.split())
    if not title:
        raise FieldError(_("Give the report a title."), field="title")
    if category not in IncidentCategory.values:
        raise FieldError(_("Choose a category."), field="category")
    if severity not in IncidentSeverity.values:
        raise FieldError(_("Choose a severity."), field="severity")
    lat = _coordinate(latitude, "latitude", 90)
    lon = _coordinate(longitude, "longitude", 180)
    if (lat is None) != (lon is None):
        field = "longitude" if lon is None else "latitude"
        raise FieldError(_("Give both latitude and longitude, or neither."), field=field)
    address = " ".join(address.split())
    if lat is None and not address:
        raise FieldError(
            _("Say where: set a point on the map, use your location, or type an address."),
            field="address",
        )
    if len(photos) > PHOTOS_PER_REPORT:
        raise FieldError(
            _("Send at most %(n)s photos at a time.") % {"n": PHOTOS_PER_REPORT}, field="photos"
        )
    checked = [photo_check(photo) for photo in photos]
    written: list[str] = []
    try:
        with transaction.atomic():
            incident = Incident.objects.create(
                id=incident_id,
                disaster=selectors.disaster_current(),
                category=IncidentCategory(category),
                severity=IncidentSeverity(severity),
                title=title[:120],
                description=description.strip(),
                latitude=lat,
                longitude=lon,
                address=address[:200],
                area=area,
                department=department,
                reported_by=reported_by,
            )
            for photo in checked:
                _write_photo(incident, photo, reported_by, uuid.uuid4(), written)
            core_services.audit_record(
                action=Action.CREATE,
                record=incident,
                detail={"category": incident.category, "severity": incident.severity},
            )
            place = _place(incident)
            chronology_record(
                kind=ChronologyKind.INCIDENT,
                text=(
                    f"被害報告: {CATEGORY_JA[IncidentCategory(incident.category)]}"
                    f"（{SEVERITY_JA[IncidentSeverity(incident.severity)]}）"
                    f"{place}"
                ),
                disaster=incident.disaster,
                record=incident,
                important=incident.severity >= IncidentSeverity.HIGH,
                department=department.name if department is not None else "",
            )
    except IntegrityError:
        _remove(written)
        # The same report arriving twice at the same moment: the other one was recorded.
        again = Incident.objects.filter(pk=incident_id).first()
        if again is None:
            raise
        return ReportResult(again, created=False)
    except BaseException:
        _remove(written)
        raise
    return ReportResult(incident, created=True)


def incident_photo_add(
    *,
    incident: Incident,
    upload: Upload,
    uploaded_by: User | None,
    photo_id: uuid.UUID | None = None,
    field: str = "photos",
) -> IncidentPhoto:
    """Add a photo to a report (checked by its bytes). A replayed photo id answers the first."""
    if photo_id is not None:
        earlier = IncidentPhoto.objects.filter(pk=photo_id, incident=incident).first()
        if earlier is not None:
            return earlier
    checked = photo_check(upload, field=field)
    written: list[str] = []
    try:
        with transaction.atomic():
            photo = _write_photo(incident, checked, uploaded_by, photo_id or uuid.uuid4(), written)
            Incident.objects.filter(pk=incident.pk).update(updated_at=timezone.now())
    except BaseException:
        _remove(written)
        raise
    return photo


@transaction.atomic
def incident_set_status(*, incident: Incident, status: IncidentStatus | str) -> Incident:
    """Move an incident along 報告 → 確認 → 対応中 → 完了 (or reopen a finished one)."""
    locked = (
        # of=("self",): PostgreSQL cannot lock the nullable side of the outer joins.
        Incident.objects.select_for_update(of=("self",))
        .select_related("area", "department")
        .get(pk=incident.pk)
    )
    if status not in IncidentStatus.values:
        raise FieldError(_("Unknown status."), field="status")
    if status == locked.status:
        raise FieldError(
            _("The incident is already %(status)s.") % {"status": locked.get_status_display()},
            field="status",
        )
    if status not in INCIDENT_TRANSITIONS[locked.status]:
        raise FieldError(
            _("An incident cannot go from %(old)s to %(new)s.")
            % {"old": locked.get_status_display(), "new": IncidentStatus(status).label},
            field="status",
        )
    old = locked.status
    locked.status = IncidentStatus(status)
    locked.updated_at = timezone.now()
    locked.save(update_fields=["status", "updated_at"])
    core_services.audit_record(
        action=Action.UPDATE, record=locked, detail={"status": [old, locked.status]}
    )
    label = STATUS_JA[IncidentStatus(locked.status)]
    if old == IncidentStatus.DONE:
        label = f"再開・{label}"
    place = _place(locked)
    chronology_record(
        kind=ChronologyKind.INCIDENT,
        text=f"{label}: {CATEGORY_JA[IncidentCategory(locked.category)]}"
        + (f"（{place}）" if place else ""),
        disaster=locked.disaster,
        record=locked,
        department=locked.department.name if locked.department is not None else "",
    )
    return locked


@transaction.atomic
def incident_assign(*, incident: Incident, department: Department | None) -> Incident:
    """Give the incident to a department (or take it back to HQ)."""
    locked = Incident.objects.select_for_update().get(pk=incident.pk)
    if locked.department_id == (department.pk if department is not None else None):
        return locked
    old = locked.department.name if locked.department is not None else ""
    locked.department = department
    locked.updated_at = timezone.now()
    locked.save(update_fields=["department", "updated_at"])
    core_services.audit_record(
        action=Action.UPDATE,
        record=locked,
        detail={"department": [old, department.name if department is not None else ""]},
    )
    chronology_record(
        kind=ChronologyKind.INCIDENT,
        text=f"担当: {department.name if department is not None else '本部'} — {locked.title}",
        disaster=locked.disaster,
        record=locked,
        department=department.name if department is not None else "",
    )
    return locked


# --- Tasks (依頼) -------------------------------------------------------------------------------

TASK_TRANSITIONS: dict[str, frozenset[str]] = {
    TaskStatus.OPEN: frozenset({TaskStatus.IN_PROGRESS, TaskStatus.DONE, TaskStatus.CANCELLED}),
    TaskStatus.IN_PROGRESS: frozenset({TaskStatus.OPEN, TaskStatus.DONE, TaskStatus.CANCELLED}),
    TaskStatus.DONE: frozenset({TaskStatus.IN_PROGRESS}),
    TaskStatus.CANCELLED: frozenset({TaskStatus.OPEN}),
}


def task_next_statuses(status: str) -> list[str]:
    allowed = TASK_TRANSITIONS.get(status, frozenset())
    return [value for value in TaskStatus.values if value in allowed]


def _due_text(due_at: dt.datetime | None) -> str:
    if due_at is None:
        return ""
    return f"（期限 {timezone.localtime(due_at):%m/%d %H:%M}）"


@transaction.atomic
def task_create(
    *,
    title: str,
    to_department: Department,
    created_by: User | None,
    description: str = "",
    from_department: Department | None = None,
    assignee: User | None = None,
    incident: Incident | None = None,
    due_at: dt.datetime | None = None,
) -> Task:
    """HQ asks a department to do something (依頼), maybe about an incident, maybe by a time."""
    title = " ".join(title.split())
    if not title:
        raise FieldError(_("Give the task a title."), field="title")
    if due_at is not None and timezone.is_naive(due_at):
        raise FieldError(_("Give the due time with its time zone."), field="due_at")
    if assignee is not None and not to_department.members.filter(pk=assignee.pk).exists():
        raise FieldError(
            _("%(person)s is not a member of %(department)s.")
            % {"person": assignee, "department": to_department},
            field="assignee",
        )
    task = Task.objects.create(
        disaster=incident.disaster
        if incident is not None and incident.disaster_id
        else selectors.disaster_current(),
        title=title[:120],
        description=description.strip(),
        from_department=from_department,
        to_department=to_department,
        assignee=assignee,
        incident=incident,
        due_at=due_at,
        created_by=created_by,
    )
    core_services.audit_record(
        action=Action.CREATE,
        record=task,
        detail={"to": to_department.name, "incident": str(incident.pk) if incident else ""},
    )
    giver = from_department.name if from_department is not None else "本部"
    chronology_record(
        kind=ChronologyKind.TASK,
        text=f"依頼: {giver} → {to_department.name} — {task.title}{_due_text(due_at)}",
        disaster=task.disaster,
        record=task,
        department=to_department.name,
    )
    return task


@transaction.atomic
def task_set_status(*, task: Task, status: TaskStatus | str) -> Task:
    """The department reports progress: 未着手 → 対応中 → 完了 (or 取消, or reopened)."""
    locked = (
        Task.objects.select_for_update(of=("self",)).select_related("to_department").get(pk=task.pk)
    )
    if status not in TaskStatus.values:
        raise FieldError(_("Unknown status."), field="status")
    if status == locked.status:
        raise FieldError(
            _("The task is already %(status)s.") % {"status": task_status_label(locked.status)},
            field="status",
        )
    if status not in TASK_TRANSITIONS[locked.status]:
        raise FieldError(
            _("A task cannot go from %(old)s to %(new)s.")
            % {"old": task_status_label(locked.status), "new": task_status_label(status)},
            field="status",
        )
    old = locked.status
    now = timezone.now()
    locked.status = TaskStatus(status)
    locked.updated_at = now
    locked.completed_at = now if locked.status == TaskStatus.DONE else None
    locked.save(update_fields=["status", "updated_at", "completed_at"])
    core_services.audit_record(
        action=Action.UPDATE, record=locked, detail={"status": [old, locked.status]}
    )
    chronology_record(
        kind=ChronologyKind.TASK,
        text=(
            f"{TASK_STATUS_JA[TaskStatus(locked.status)]}: "
            f"{locked.to_department.name} — {locked.title}"
        ),
        disaster=locked.disaster,
        record=locked,
        department=locked.to_department.name,
    )
    return locked


# --- Demo ---------------------------------------------------------------------------------------

DEMO_DEPARTMENTS: tuple[tuple[str, str], ...] = (
    ("危機管理課", "Crisis Management Division"),
    ("道路公園課", "Roads and Parks Division"),
    ("河川課", "Rivers Division"),
    ("福祉総務課", "General Welfare Division"),
    ("環境課", "Environment Division"),
)
# Demo accounts that belong to a department, when the demo city has them.
DEMO_MEMBERS = (("hq", "危機管理課"), ("field", "道路公園課"))


def department_upsert(*, name: str, name_en: str = "", order: int = 0) -> Department:
    department, created = Department.objects.get_or_create(
        name=name, defaults={"name_en": name_en, "order": order}
    )
    if not created and (department.name_en, department.order) != (name_en, order):
        department.name_en, department.order = name_en, order
        department.save(update_fields=["name_en", "order"])
    if created:
        core_services.audit_record(action=Action.CREATE, record=department)
    return department


@transaction.atomic
def load_demo_field(municipality: Municipality | None = None, **_: Any) -> str:
    """The demo city's departments (safe to run again); demo staff join theirs."""
    departments = {
        name: department_upsert(name=name, name_en=name_en, order=(index + 1) * 10)
        for index, (name, name_en) in enumerate(DEMO_DEPARTMENTS)
    }
    for username, name in DEMO_MEMBERS:
        user = User.objects.filter(username=username).first()
        if user is not None:
            departments[name].members.add(user)
    return f"departments  {len(departments)} ({'、'.join(departments)})"
