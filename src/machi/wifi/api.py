"""API of the Wi-Fi room."""

from ninja import Router

router = Router(tags=["wifi"])
