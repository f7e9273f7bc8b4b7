"""API of the chronology."""

from ninja import Router

router = Router(tags=["chronology"])
