"""The CKAN-compatible Action API (read only), under /api/3/action/<action>.

Answers as CKAN 2.9+ does, so the clients written for Tokyo's or BODIK's portals work here:
every answer is ``{"help": …, "success": true, "result": …}``; errors are ``success: false``
with an ``error`` object whose ``__type`` is CKAN's (Not Found Error 404, Validation Error 409,
Bad Request 400, Authorization Error 403). Parameters come from the query string or, as CKAN
allows, from a JSON body posted to the same address. Nothing here writes: datasets are kept in
the staff console.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import reverse
from django.views.decorators.csrf import csrf_exempt

from machi.core import ratelimit
from machi.core.middleware import client_ip
from machi.opendata import catalog, generators


class Raw(str):
    """A result already serialised as JSON."""


class ActionError(Exception):
    def __init__(self, status: int, error: dict[str, Any]) -> None:
        super().__init__(error.get("message", ""))
        self.status = status
        self.error = error


def not_found(message: str = "Not found") -> ActionError:
    return ActionError(404, {"__type": "Not Found Error", "message": message})


def invalid(field: str, message: str) -> ActionError:
    return ActionError(409, {"__type": "Validation Error", field: [message]})


def _required(params: dict[str, Any], name: str) -> str:
    value = params.get(name)
    if value in (None, ""):
        raise invalid(name, "Missing value")
    return str(value)


def _page(params: dict[str, Any], items: list[Any]) -> list[Any]:
    try:
        limit = int(params.get("limit") or 0)
        offset = int(params.get("offset") or 0)
    except ValueError:
        raise invalid("limit", "Invalid integer") from None
    if limit < 0 or offset < 0:
        raise invalid("limit", "Must be a natural number")
    return items[offset : offset + limit] if limit else items[offset:]


def package_list(params: dict[str, Any], base: str) -> Any:
    """Return the names of the published datasets. Parameters: limit, offset."""
    return _page(params, [e.package["name"] for e in catalog.snapshot(base=base).entries])


def current_package_list_with_resources(params: dict[str, Any], base: str) -> Any:
    """Return the published datasets with their resources, most recently changed first.
    Parameters: limit, offset."""
    entries = sorted(
        catalog.snapshot(base=base).entries,
        key=lambda e: e.package["metadata_modified"] or "",
        reverse=True,
    )
    return _page(params, [e.package for e in entries])


def package_show(params: dict[str, Any], base: str) -> Any:
    """Return one dataset (name or id) with its resources. Parameter: id."""
    entry = catalog.entry_find(_required(params, "id"), base=base)
    if entry is None:
        raise not_found()
    return Raw(entry.json)


def package_search(params: dict[str, Any], base: str) -> Any:
    """Search the published datasets. Parameters: q (default *:*), fq, fq_list, sort (default
    "score desc, metadata_modified desc"), rows (default 10, at most 1000), start, facet.field
    (a JSON list of tags, groups, res_format, organization, license_id, frequency),
    facet.limit, facet.mincount. Returns {count, sort, facets, search_facets, results}."""
    try:
        return Raw(catalog.search_json(params, base=base))
    except catalog.QueryError as exc:
        raise invalid(exc.field, str(exc)) from None


def resource_show(params: dict[str, Any], base: str) -> Any:
    """Return one resource. Parameter: id."""
    resource = catalog.snapshot(base=base).resources.get(_required(params, "id"))
    if resource is None:
        raise not_found()
    return resource


def tag_list(params: dict[str, Any], base: str) -> Any:
    """Return the tags of the published datasets. Parameters: query (part of a tag),
    all_fields."""
    query = catalog.normalise(str(params.get("query") or ""))
    tags = sorted(
        {t["name"] for e in catalog.snapshot(base=base).entries for t in e.package["tags"]}
    )
    tags = [t for t in tags if query in catalog.normalise(t)]
    if str(params.get("all_fields", "")).lower() == "true":
        return [{"name": t, "display_name": t, "vocabulary_id": None} for t in tags]
    return tags


def organization_list(params: dict[str, Any], base: str) -> Any:
    """Return the organizations (the city, named by its 全国地方公共団体コード). Parameter:
    all_fields."""
    org = catalog.organization()
    if str(params.get("all_fields", "")).lower() == "true":
        count = len(catalog.snapshot(base=base).entries)
        return [{**org, "package_count": count}]
    return [org["name"]]


def organization_show(params: dict[str, Any], base: str) -> Any:
    """Return the organization. Parameter: id (the 全国地方公共団体コード)."""
    org = catalog.organization()
    if _required(params, "id") not in (org["id"], org["name"]):
        raise not_found()
    return {**org, "package_count": len(catalog.snapshot(base=base).entries)}


def group_list(params: dict[str, Any], base: str) -> Any:
    """Return the categories (分類) in use. Parameter: all_fields."""
    groups = sorted(
        {g["name"] for e in catalog.snapshot(base=base).entries for g in e.package["groups"]}
    )
    if str(params.get("all_fields", "")).lower() == "true":
        return [{"name": g, "title": g, "display_name": g} for g in groups]
    return groups


def license_list(params: dict[str, Any], base: str) -> Any:
    """Return the licences datasets may carry."""
    return [
        {"id": key, "title": title, "url": url, "status": "active", "od_conformance": "approved"}
        for key, (title, url) in catalog.LICENSES.items()
    ]


def status_show(params: dict[str, Any], base: str) -> Any:
    """Return what this site is."""
    city = generators.city_current()
    return {
        "site_title": f"{city.prefecture}{city.name} オープンデータ".strip(),
        "site_url": base,
        "site_description": "Machi open data catalogue (CKAN Action API compatible, read only)",
        "ckan_version": "2.10.0",
        "locale_default": "ja",
        "extensions": ["dcat"],
    }


def help_show(params: dict[str, Any], base: str) -> Any:
    """Return the documentation of an action. Parameter: name."""
    name = _required(params, "name")
    function = ACTIONS.get(name)
    if function is None:
        raise not_found(f"Action function not found: {name}")
    return (function.__doc__ or "").strip()


ACTIONS: dict[str, Callable[[dict[str, Any], str], Any]] = {
    function.__name__: function
    for function in (
        package_list,
        current_package_list_with_resources,
        package_show,
        package_search,
        resource_show,
        tag_list,
        organization_list,
        organization_show,
        group_list,
        license_list,
        status_show,
        help_show,
    )
}
# Writes exist in CKAN; here the catalogue is kept in the staff console.
WRITES = ("_create", "_update", "_patch", "_delete", "_purge")


def _params(request: HttpRequest) -> dict[str, Any]:
    params: dict[str, Any] = {key: request.GET.get(key) for key in request.GET}
    if request.method == "POST" and request.body:
        try:
            body = json.loads(request.body)
        except ValueError:
            raise ActionError(
                400, {"__type": "Bad Request", "message": "Bad request - JSON Error: cannot read"}
            ) from None
        if not isinstance(body, dict):
            raise ActionError(
                400, {"__type": "Bad Request", "message": "Bad request - JSON Error: not an object"}
            )
        params.update(body)
    return params


def _limited(request: HttpRequest) -> bool:
    return not ratelimit.hit(
        "ckan-ip",
        client_ip(request) or "?",
        limit=int(getattr(settings, "MACHI_OPENDATA_RATE_LIMIT", 600)),
        window=60,
        alias="ratelimit",
    )


@csrf_exempt  # read only, no cookies used: nothing a forged request could change
def action(request: HttpRequest, action: str) -> HttpResponse:
    base = request.build_absolute_uri("/").rstrip("/")
    help_url = base + reverse("ckan:action", args=["help_show"]) + f"?name={action}"
    response: HttpResponse
    try:
        if request.method not in ("GET", "POST", "HEAD"):
            raise ActionError(405, {"__type": "Bad Request", "message": "Use GET or POST"})
        if _limited(request):
            raise ActionError(
                429, {"__type": "Too Many Requests", "message": "Too many requests; wait a minute"}
            )
        function = ACTIONS.get(action)
        if function is None:
            if action.endswith(WRITES):
                raise ActionError(
                    403,
                    {
                        "__type": "Authorization Error",
                        "message": "Access denied: this catalogue is read only",
                    },
                )
            raise ActionError(
                400,
                {
                    "__type": "Bad Request",
                    "message": f"Bad request - Action name not known: {action}",
                },
            )
        result = function(_params(request), base)
    except ActionError as exc:
        response = JsonResponse(
            {"help": help_url, "success": False, "error": exc.error},
            status=exc.status,
            json_dumps_params={"ensure_ascii": False},
        )
    else:
        if isinstance(result, Raw):
            body = '{"help":' + json.dumps(help_url) + ',"success":true,"result":' + result + "}"
            response = HttpResponse(body, content_type="application/json")
        else:
            response = JsonResponse(
                {"help": help_url, "success": True, "result": result},
                json_dumps_params={"ensure_ascii": False},
                safe=False,
            )
    response["Access-Control-Allow-Origin"] = "*"
    response["Cache-Control"] = "no-cache"
    return response
