"""Errors as ``application/problem+json`` (RFC 9457), with field-level details for validation."""

from __future__ import annotations

import logging
from typing import Any

from django.core.exceptions import ObjectDoesNotExist, PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, HttpError, Throttled, ValidationError

logger = logging.getLogger(__name__)
CONTENT_TYPE = "application/problem+json"
TITLES = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    409: "Conflict",
    422: "Unprocessable Content",
    429: "Too Many Requests",
    500: "Internal Server Error",
}


def problem(
    api: NinjaAPI,
    request: HttpRequest,
    status: int,
    detail: str,
    **extra: Any,
) -> HttpResponse:
    body = {
        "type": "about:blank",
        "title": TITLES.get(status, "Error"),
        "status": status,
        "detail": detail,
        "instance": request.path,
        **extra,
    }
    response = api.create_response(request, body, status=status)
    response["Content-Type"] = CONTENT_TYPE
    return response


def field_errors(exc: ValidationError) -> list[dict[str, Any]]:
    """Each error as {field, message, type}; field is the dotted location (body.name)."""
    result = []
    for error in exc.errors:
        location = [str(part) for part in error.get("loc", ())]
        result.append(
            {
                "field": ".".join(location),
                "message": error.get("msg", ""),
                "type": error.get("type", ""),
            }
        )
    return result


def install(api: NinjaAPI) -> None:
    # Handlers take `exc: Any`: ninja types the argument as "the exception or its class".
    def on_validation(request: HttpRequest, exc: Any) -> HttpResponse:
        errors = field_errors(exc)
        fields = ", ".join(e["field"] for e in errors if e["field"])
        return problem(api, request, 422, f"Invalid input: {fields}", errors=errors)

    def on_auth(request: HttpRequest, exc: Any) -> HttpResponse:
        response = problem(
            api, request, 401, "Authentication required: a bearer token or a session."
        )
        response["WWW-Authenticate"] = 'Bearer realm="machi"'
        return response

    def on_throttled(request: HttpRequest, exc: Any) -> HttpResponse:
        response = problem(api, request, 429, "Too many requests; slow down and retry.")
        if exc.wait:
            response["Retry-After"] = str(int(exc.wait) + 1)
        return response

    def on_http(request: HttpRequest, exc: Any) -> HttpResponse:
        return problem(api, request, exc.status_code, str(exc.message))

    def on_denied(request: HttpRequest, exc: Any) -> HttpResponse:
        return problem(api, request, 403, "You may not do this with your roles.")

    def on_missing(request: HttpRequest, exc: Any) -> HttpResponse:
        return problem(api, request, 404, "No such record.")

    def on_error(request: HttpRequest, exc: Any) -> HttpResponse:
        logger.exception("API error on %s", request.path)
        return problem(api, request, 500, "An unexpected error occurred; it has been logged.")

    api.add_exception_handler(ValidationError, on_validation)
    api.add_exception_handler(AuthenticationError, on_auth)
    api.add_exception_handler(Throttled, on_throttled)
    api.add_exception_handler(HttpError, on_http)
    api.add_exception_handler(PermissionDenied, on_denied)
    api.add_exception_handler(Http404, on_missing)
    api.add_exception_handler(ObjectDoesNotExist, on_missing)
    api.add_exception_handler(Exception, on_error)


def invalid(field: str, message: str, *, where: str = "body.payload") -> ValidationError:
    """A field-level 422 raised by a view after parsing (a rule the schema cannot express)."""
    location = tuple(f"{where}.{field}".split(".")) if field else tuple(where.split("."))
    return ValidationError([{"loc": location, "msg": message, "type": "value_error"}])
