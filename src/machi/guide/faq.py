"""The knowledge base as files: CSV import and export.

Columns (no national standard exists; the practical set of services.md, plus language and
mode): 全国地方公共団体コード, ID, 質問, 回答, カテゴリ, 所管部署, 関連URL, 更新日, 言語, モード.
Files may be UTF-8, UTF-8 with BOM or CP932 (Excel's). An import is all or nothing: every
problem is reported with its line and column, and nothing is saved until none is left.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.db import transaction
from django.utils import timezone

from machi.core import japanese
from machi.core import services as core_services
from machi.core.models import User
from machi.core.roles import Action
from machi.guide.models import Entry, Language, Mode, Revision

COLUMNS = (
    "全国地方公共団体コード",
    "ID",
    "質問",
    "回答",
    "カテゴリ",
    "所管部署",
    "関連URL",
    "更新日",
    "言語",
    "モード",
)
REQUIRED = ("ID", "質問", "回答")
MAX_ERRORS = 50


@dataclass
class ImportResult:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    errors: list[str] = field(default_factory=list)


class FaqError(ValueError):
    def __init__(self, message: str, *, field: str = "") -> None:
        super().__init__(message)
        self.field = field


def revision_save(entry: Entry, *, by: User | None, source: str) -> Revision:
    return Revision.objects.create(
        entry=entry,
        by=by,
        source=source,
        question=entry.question,
        answer=entry.answer,
        data={
            "category": entry.category,
            "department": entry.department,
            "url": entry.url,
            "updated_on": entry.updated_on.isoformat() if entry.updated_on else "",
            "language": entry.language,
            "mode": entry.mode,
            "published": entry.published,
        },
    )


def _row_values(line: int, row: dict[str, str], errors: list[str]) -> dict[str, Any] | None:
    def problem(column: str, text: str) -> None:
        errors.append(f"line {line}, column {column}: {text}")

    before = len(errors)
    for column in REQUIRED:
        if not row.get(column, "").strip():
            problem(column, "required")
    key = row.get("ID", "").strip()
    if len(key) > 64:
        problem("ID", "at most 64 characters")
    updated: dt.date | None = None
    if text := row.get("更新日", "").strip():
        try:
            updated = dt.date.fromisoformat(text.replace("/", "-"))
        except ValueError:
            problem("更新日", f"{text!r} is not a date (YYYY-MM-DD)")
    language = row.get("言語", "").strip() or Language.JA
    if language not in Language.values:
        problem("言語", f"{language!r}: ja or en")
    mode = row.get("モード", "").strip() or Mode.NORMAL
    if mode not in Mode.values:
        problem("モード", f"{mode!r}: normal or disaster")
    url = row.get("関連URL", "").strip()
    if url:
        try:
            URLValidator(schemes=["http", "https"])(url)
        except ValidationError:
            problem("関連URL", f"{url!r} is not a web address")
    for column, limit in (("カテゴリ", 64), ("所管部署", 64), ("関連URL", 500)):
        if len(row.get(column, "").strip()) > limit:
            problem(column, f"at most {limit} characters")
    if len(errors) > before:
        return None
    return {
        "key": key,
        "question": row["質問"].strip(),
        "answer": row["回答"].strip(),
        "category": row.get("カテゴリ", "").strip(),
        "department": row.get("所管部署", "").strip(),
        "url": url,
        "updated_on": updated,
        "language": language,
        "mode": mode,
    }


def import_csv(data: bytes, *, by: User | None = None) -> ImportResult:
    """Create or update entries from a CSV file, matched by ID. All or nothing."""
    result = ImportResult()
    rows: list[dict[str, Any]] = []
    seen: dict[str, int] = {}
    try:
        parsed = list(japanese.read_csv(data))
    except japanese.CsvDecodeError as exc:
        result.errors.append(str(exc))
        return result
    if not parsed:
        result.errors.append("line 1: the file has no rows under its header")
        return result
    header = set(parsed[0][1])
    missing = [column for column in REQUIRED if column not in header]
    if missing:
        result.errors.append(f"line 1: missing column(s): {', '.join(missing)}")
        return result
    for line, row in parsed:
        values = _row_values(line, row, result.errors)
        if values is None:
            if len(result.errors) >= MAX_ERRORS:
                result.errors.append("… and more: fix these first")
                break
            continue
        if values["key"] in seen:
            result.errors.append(
                f"line {line}, column ID: {values['key']!r} also on line {seen[values['key']]}"
            )
            continue
        seen[values["key"]] = line
        rows.append(values)
    if result.errors:
        return result
    with transaction.atomic():
        existing = {e.key: e for e in Entry.objects.filter(key__in=seen)}
        for values in rows:
            entry = existing.get(values["key"])
            if entry is None:
                entry = Entry.objects.create(**values, changed_at=timezone.now())
                result.created += 1
            elif all(getattr(entry, k) == v for k, v in values.items()):
                result.unchanged += 1
                continue
            else:
                for name, value in values.items():
                    setattr(entry, name, value)
                entry.changed_at = timezone.now()
                entry.save()
                result.updated += 1
            revision_save(entry, by=by, source="import")
        core_services.audit_record(
            action=Action.CREATE,
            object_type="guide.entry",
            detail={"imported": result.created, "updated": result.updated},
            actor=by,
        )
    return result


def export_rows(entries: Any = None, *, lgcode: str = "") -> list[list[str]]:
    rows: list[list[str]] = [list(COLUMNS)]
    for entry in entries if entries is not None else Entry.objects.all():
        rows.append(
            [
                lgcode,
                entry.key,
                entry.question,
                entry.answer,
                entry.category,
                entry.department,
                entry.url,
                entry.updated_on.isoformat() if entry.updated_on else "",
                entry.language,
                entry.mode,
            ]
        )
    return rows


def export_csv(*, lgcode: str = "") -> bytes:
    """Every entry as CSV for Excel (UTF-8 with BOM, no cell Excel would run as a formula)."""
    return japanese.excel_csv(export_rows(lgcode=lgcode))
