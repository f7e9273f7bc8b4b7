"""Rooms that take an application over (``Procedure.handler``), e.g. 罹災証明書 → recovery."""

from __future__ import annotations

from machi.procedures.models import Application


def after_submit(application: Application) -> None:
    """Called after a new application is committed. (Stub: filled in by the hand-off work.)"""
