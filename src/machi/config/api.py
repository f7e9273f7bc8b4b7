"""The HTTP API: one NinjaAPI under /api/v1/, to which each room adds its router."""

from __future__ import annotations

from typing import Any

import ninja.parser
from django.conf import settings
from django.http import HttpRequest
from django.utils.datastructures import MultiValueDict
from ninja import NinjaAPI
from ninja.errors import ValidationError
from ninja.openapi.schema import OpenAPISchema

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


def _nul_at(value: Any, where: tuple[str, ...]) -> tuple[str, ...] | None:
    """Where the first NUL character (U+0000) is in parsed JSON, or None."""
    if isinstance(value, str):
        return where if "\x00" in value else None
    if isinstance(value, dict):
        items: Any = value.items()
    elif isinstance(value, list):
        items = enumerate(value)
    else:
        return None
    for key, item in items:
        if isinstance(key, str) and "\x00" in key:
            return (*where, key)
        found = _nul_at(item, (*where, str(key)))
        if found:
            return found
    return None


class Parser(ninja.parser.Parser):
    """JSON and form data without NUL characters (U+0000) in any text: nobody types one, and
    no database column keeps one (PostgreSQL refuses them: a 500 instead of a 4xx)."""

    def parse_body(self, request: HttpRequest) -> Any:
        data = super().parse_body(request)
        found = _nul_at(data, ())
        if found is not None:  # ninja answers any parsing error 400 (Cannot parse request body)
            raise ValueError(f"a NUL character at {'.'.join(found) or 'the top'}")
        return data

    def parse_querydict(
        self, data: MultiValueDict, list_fields: list[str], request: HttpRequest
    ) -> dict[str, Any]:
        where = "query" if data is request.GET else "form"
        for key, values in data.lists():
            if any(isinstance(v, str) and "\x00" in v for v in [key, *values]):
                raise ValidationError(
                    [{"loc": (where, key), "msg": "a NUL character", "type": "value_error"}]
                )
        return super().parse_querydict(data, list_fields, request)


class MachiAPI(NinjaAPI):
    """The errors in the document as they are answered (see ``problems.document``)."""

    def get_openapi_schema(self, **kwargs: Any) -> OpenAPISchema:
        schema = super().get_openapi_schema(**kwargs)
        problems.document(schema)
        return schema


api = MachiAPI(
    title="Machi API",
    version="1",
    description=(
        "Machi (まち), the digital city hall. Authenticate with `Authorization: Bearer <token>` "
        "(`machi token create USERNAME`) or a signed-in staff session (with the CSRF token). "
        "Errors are `application/problem+json` (RFC 9457); validation errors list each field."
    ),
    auth=[BearerTokenAuth(), StaffSessionAuth()],
    parser=Parser(),
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
