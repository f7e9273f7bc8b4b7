from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import HttpRequest

from machi.core import access, nav, selectors
from machi.core.roles import Action, Role


def machi(request: HttpRequest) -> dict[str, Any]:
    user = getattr(request, "user", None)
    staff = bool(user and user.is_authenticated and access.is_staff_member(user))
    return {
        "municipality": selectors.municipality_current(),
        "demo_mode": settings.DEMO,
        "tile_url": settings.MACHI_TILE_URL,
        "tile_attribution": settings.MACHI_TILE_ATTRIBUTION,
        "is_staff_member": staff,
        "nav_audit": staff and access.may(user, Action.READ, "core.auditevent"),
        "nav_admin": staff and Role.SYSADMIN in access.Grants.of(user).roles,
        "nav_rooms": nav.entries_for(user) if staff else [],
    }
