"""The disaster phase on every page: the banner's data."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import HttpRequest
from django.utils.translation import gettext as _

from machi.core.hazards import Hazard
from machi.emergency import selectors


def phase(request: HttpRequest) -> dict[str, Any]:
    orders = selectors.orders_active()
    evacuation = None
    if orders:
        top = orders[0]  # highest level first
        evacuation = {
            "level": top.level,
            "title": _("%(name)s in force") % {"name": top.get_level_display()},
            "count": len(orders),
        }
    disaster = selectors.disaster_current()
    if disaster is None:
        return {"disaster_phase": None, "evacuation_phase": evacuation}
    hazards = "・".join(str(Hazard(h).label) for h in disaster.hazards if h in Hazard.values)
    title = _("Exercise: %(name)s") if disaster.is_exercise else _("Disaster response: %(name)s")
    return {
        "disaster_phase": {
            "level": "exercise" if disaster.is_exercise else "disaster",
            "title": title % {"name": disaster.name},
            "detail": hazards,
            "disaster": disaster,
            "status_url": getattr(settings, "MACHI_PHASE_LINK", ""),
        },
        "evacuation_phase": evacuation,
    }
