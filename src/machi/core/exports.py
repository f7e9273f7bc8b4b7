"""Exports that people open in Excel, written by the worker as jobs (UTF-8 with BOM, CRLF)."""

from __future__ import annotations

import csv
import datetime as dt
from pathlib import Path
from typing import Any

from django.conf import settings
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from machi.core import access, japanese, jobs, selectors, services
from machi.core.models import AuditEvent, Job
from machi.core.roles import Action

AUDIT_EXPORT = "core.audit_export"


def export_path(job: Job) -> Path:
    folder = Path(settings.DATA_DIR) / "exports"
    folder.mkdir(exist_ok=True)
    return folder / f"{job.pk}.csv"


def audit_filters_to_params(filters: selectors.AuditFilter) -> dict[str, str]:
    return {
        key: value.isoformat() if isinstance(value, dt.date) else value
        for key, value in filters.__dict__.items()
        if value
    }


@jobs.register(AUDIT_EXPORT)
def audit_export(run: jobs.JobRun, language: str = "ja", **params: Any) -> dict[str, Any]:
    job = run.job
    user = job.created_by
    access.require(user, Action.EXPORT, AuditEvent)
    dates = {"since", "until"}
    values: dict[str, Any] = {
        k: dt.date.fromisoformat(v) if k in dates else v for k, v in params.items()
    }
    events = selectors.audit_search(user, selectors.AuditFilter(**values))
    total = events.count()
    run.progress(0, total)
    with translation.override(language):
        header = [
            _("Time"), _("Actor"), _("Action"), _("Record type"), _("Record id"), _("Record"),
            _("IP address"), _("Channel"), _("Request id"),
        ]  # fmt: skip
    path = export_path(job)
    partial = path.with_suffix(".part")
    with partial.open("w", encoding="utf-8-sig", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\r\n")
        writer.writerow(header)
        for done, event in enumerate(events.iterator(chunk_size=2000), start=1):
            # Names and record descriptions are typed by people: never a formula in Excel.
            writer.writerow(
                [
                    timezone.localtime(event.at).isoformat(timespec="seconds"),
                    japanese.excel_cell(event.actor_username),
                    event.action,
                    japanese.excel_cell(event.object_type),
                    japanese.excel_cell(event.object_id),
                    japanese.excel_cell(event.object_repr),
                    event.ip_address or "",
                    event.channel,
                    japanese.excel_cell(event.request_id),
                ]
            )
            if done % 1000 == 0:
                run.progress(done)
    partial.replace(path)  # a half-written file is never offered for download
    services.audit_record(
        action=Action.EXPORT, object_type="core.auditevent", detail={"rows": total, **params}
    )
    stamp = timezone.localtime().strftime("%Y%m%d-%H%M%S")
    return {"rows": total, "filename": f"audit-{stamp}.csv"}
