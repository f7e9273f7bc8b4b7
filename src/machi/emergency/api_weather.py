"""API of JMA warnings and incoming CAP alerts."""

from ninja import Router

router = Router(tags=["weather and alerts"])
