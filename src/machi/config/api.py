"""The HTTP API: one NinjaAPI under /api/v1/, to which each room adds its router."""

from __future__ import annotations

from django.conf import settings
from ninja import NinjaAPI

from machi.core import problems
from machi.core.api import router as core_router
from machi.core.auth import BearerTokenAuth, FixedWindowThrottle, StaffSessionAuth
from machi.emergency.api import router as emergency_router
from machi.emergency.api_chronology import router as chronology_router
from machi.emergency.api_field import router as field_router
from machi.emergency.api_weather import router as weather_router
from machi.guide.api import router as guide_router
from machi.notify.api import router as notify_router
from machi.procedures.api import router as procedures_router
from machi.recovery.api import router as recovery_router
from machi.shelters.api import router as shelters_router
from machi.shelters.api_offline import router as shelters_offline_router
from machi.wifi.api import router as wifi_router
from machi.wifi.api_monitor import router as wifi_monitor_router

api = NinjaAPI(
    title="Machi API",
    version="1",
    description=(
        "Machi (まち), the digital city hall. Authenticate with `Authorization: Bearer <token>` "
        "(`machi token create USERNAME`) or a signed-in staff session (with the CSRF token). "
        "Errors are `application/problem+json` (RFC 9457); validation errors list each field."
    ),
    auth=[BearerTokenAuth(), StaffSessionAuth()],
    throttle=[
        FixedWindowThrottle(per_minute=settings.API_RATE_LIMIT // 10, authenticated=False),
        FixedWindowThrottle(per_minute=settings.API_RATE_LIMIT, authenticated=True),
    ],
    urls_namespace="api",
    docs_url="/docs",
)
problems.install(api)
api.add_router("/", core_router)
api.add_router("/", emergency_router)
api.add_router("/", shelters_router)
api.add_router("/", shelters_offline_router)
api.add_router("/", field_router)
api.add_router("/", chronology_router)
api.add_router("/", weather_router)
api.add_router("/", wifi_router)
api.add_router("/", wifi_monitor_router)
api.add_router("/", notify_router)
api.add_router("/", recovery_router)
api.add_router("/", procedures_router)
api.add_router("/", guide_router)
