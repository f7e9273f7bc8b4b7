"""Errors as ``application/problem+json`` (RFC 9457), with field-level details for validation."""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings
from django.core.exceptions import (
    ObjectDoesNotExist,
    PermissionDenied,
    RequestDataTooBig,
    SuspiciousOperation,
)
from django.core.exceptions import ValidationError as ModelValidationError
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
    413: "Content Too Large",
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


def model_errors(exc: ModelValidationError) -> list[dict[str, Any]]:
    """Django's ValidationError as {field, message, type}, fields located as in the body."""
    if not hasattr(exc, "error_dict"):
        return [{"field": "", "message": str(m), "type": "value_error"} for m in exc.messages]
    result: list[dict[str, Any]] = []
    for name, messages in exc.message_dict.items():
        field = "" if name == "__all__" else f"body.payload.{name}"
        result.extend({"field": field, "message": str(m), "type": "value_error"} for m in messages)
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

    def on_model_invalid(request: HttpRequest, exc: Any) -> HttpResponse:
        # A model's full_clean() refused what the schema let through: a 422 with the fields,
        # never a 500.
        errors = model_errors(exc)
        fields = ", ".join(e["field"] for e in errors if e["field"])
        return problem(api, request, 422, f"Invalid input: {fields}", errors=errors)

    def on_too_big(request: HttpRequest, exc: Any) -> HttpResponse:
        # core/uploads.py stopped the upload before the operation ran: nothing was kept.
        limit = settings.MACHI_UPLOAD_MAX_MB
        return problem(api, request, 413, f"The request is larger than {limit} MB.")

    def on_suspicious(request: HttpRequest, exc: Any) -> HttpResponse:
        return problem(api, request, 400, "The request could not be read.")

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
    api.add_exception_handler(ModelValidationError, on_model_invalid)
    api.add_exception_handler(RequestDataTooBig, on_too_big)
    api.add_exception_handler(SuspiciousOperation, on_suspicious)
    api.add_exception_handler(Exception, on_error)


def invalid(field: str, message: str, *, where: str = "body.payload") -> ValidationError:
    """A field-level 422 raised by a view after parsing (a rule the schema cannot express)."""
    location = tuple(f"{where}.{field}".split(".")) if field else tuple(where.split("."))
    return ValidationError([{"loc": location, "msg": message, "type": "value_error"}])


# --- The errors in the OpenAPI document ---------------------------------------------------------

PROBLEM_REF = "#/components/schemas/Problem"
PROBLEM_SCHEMA: dict[str, Any] = {
    "title": "Problem",
    "description": "An error (RFC 9457 problem details); a 422 lists each field in `errors`.",
    "type": "object",
    "properties": {
        "type": {"type": "string", "title": "Type"},
        "title": {"type": "string", "title": "Title"},
        "status": {"type": "integer", "title": "Status"},
        "detail": {"type": "string", "title": "Detail"},
        "instance": {"type": "string", "title": "Instance"},
        "errors": {
            "type": "array",
            "title": "Errors",
            "items": {
                "type": "object",
                "properties": {
                    "field": {"type": "string", "description": "Dotted location: body.name"},
                    "message": {"type": "string"},
                    "type": {"type": "string"},
                },
                "required": ["field", "message", "type"],
            },
        },
    },
    "required": ["type", "title", "status", "detail", "instance"],
}
# What every operation of a kind can answer, whatever its view does (the view's own errors,
# 404 for a record named in the body, 409 for a state that forbids the change, are declared on
# the operation).
ERROR_DESCRIPTIONS = {
    400: "Bad Request: the body cannot be read (not JSON, or text with NUL characters).",
    401: "Unauthorized: no credentials, or not valid ones.",
    403: "Forbidden: your roles do not allow this (or a session without its CSRF token).",
    404: "Not Found: no such record (or not one you may see).",
    409: "Conflict: the record's state does not allow this now.",
    413: "Content Too Large: the files together exceed the upload limit (MACHI_UPLOAD_MAX_MB).",
    422: "Unprocessable Content: invalid input; `errors` lists each field.",
    429: "Too Many Requests: see Retry-After.",
}


def document(schema: dict[str, Any]) -> dict[str, Any]:
    """Declare the errors as they are answered: ``application/problem+json`` with the Problem
    schema, for the statuses an operation declares and for those the framework answers on its
    own: 401 and 403 (authentication, CSRF, roles) where credentials are needed, 422 where
    there is input, 400 where there is a body (not parsable), 413 where it carries files, 404
    where the path names a record, 429 everywhere (the rate limit)."""
    schema.setdefault("components", {}).setdefault("schemas", {})["Problem"] = PROBLEM_SCHEMA
    for item in schema.get("paths", {}).values():
        for operation in item.values():
            # ninja keys its responses by int, openapi_extra by str: one key per status.
            responses: dict[int, Any] = {}
            for code, response in operation.get("responses", {}).items():
                responses.setdefault(int(code), {}).update(response)
            parameters = operation.get("parameters", [])
            codes = {429}
            if operation.get("security"):
                codes |= {401, 403}
            if parameters or operation.get("requestBody"):
                codes.add(422)
            if operation.get("requestBody"):
                codes.add(400)
                if "multipart/form-data" in operation["requestBody"].get("content", {}):
                    codes.add(413)  # past MACHI_UPLOAD_MAX_MB (core/uploads.py)
            if any(p.get("in") == "path" for p in parameters):
                codes.add(404)
            for status in codes:
                responses.setdefault(status, {})
            for status, response in responses.items():
                if status >= 400:
                    response["description"] = ERROR_DESCRIPTIONS.get(status, TITLES.get(status, ""))
                    response["content"] = {CONTENT_TYPE: {"schema": {"$ref": PROBLEM_REF}}}
            operation["responses"] = dict(sorted(responses.items()))
    # Every error now refers to Problem: the views' ProblemOut is no longer used.
    schema["components"]["schemas"].pop("ProblemOut", None)
    return schema
