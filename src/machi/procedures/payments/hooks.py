"""What the rest of the room calls when an application's life touches its fee."""

from __future__ import annotations

from machi.core.models import User
from machi.procedures.models import Application


def on_status(application: Application, status: str, by: User | None) -> None:
    """Called after a status change is committed: a rejected or withdrawn application's fee
    is refunded or voided. (Stub: filled in by the payments work.)"""
