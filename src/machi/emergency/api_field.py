"""API of incident reports and tasks."""

from ninja import Router

router = Router(tags=["incidents and tasks"])
