"""Messages to the applicant when their application changes status (through the notify room)."""

from __future__ import annotations

from machi.procedures.models import StatusEntry


def status_changed(entry: StatusEntry) -> None:
    """Called after the status change is committed. (Stub: filled in by the notices work.)"""
