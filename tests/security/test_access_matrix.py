"""The access matrix, cell by cell: every caller against every endpoint that touches personal
data (``tests/security/matrix.py``), and the checks that keep the matrix whole: every URL and
API operation is in it or said to hold no personal data, and docs/security.md shows it as it is.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from django.http import HttpResponse
from django.urls import URLPattern, URLResolver, get_resolver, resolve

from tests.security import matrix
from tests.security.matrix import COLUMNS, LOGIN, MATRIX, OK, REDIRECT, Row

DOC = Path(__file__).resolve().parents[2] / "docs" / "security.md"
BEGIN, END = "<!-- access-matrix:begin -->", "<!-- access-matrix:end -->"

CELLS = [(entry, column) for entry in MATRIX for column in COLUMNS]
IDS = [f"{entry.ident} | {column}" for entry, column in CELLS]


def _outcome(response: HttpResponse, entry: Row) -> str:
    location = response.get("Location", "")
    if response.status_code == 302 and (
        "/console/login/" in location or "/admin/login/" in location
    ):
        return LOGIN
    if response.status_code in entry.ok:
        return OK
    if response.status_code in {301, 302, 303}:
        return REDIRECT
    return str(response.status_code)


def _body(response: Any) -> str:
    if getattr(response, "streaming", False):
        raw = b"".join(response.streaming_content)
    else:
        raw = response.content
    text = raw.decode("utf-8", errors="ignore")
    if "json" in response.get("Content-Type", ""):
        try:
            return json.dumps(json.loads(text), ensure_ascii=False)
        except ValueError:
            return text
    return text


def _ask(client: Any, entry: Row, world: Any) -> Any:
    path = entry.path(world)
    data = entry.data(world) if entry.data else None
    if entry.method == "GET":
        return client.get(path)
    if entry.json:
        return client.post(path, json.dumps(data or {}), content_type="application/json")
    return client.post(path, data or {})


@pytest.mark.parametrize(("entry", "column"), CELLS, ids=IDS)
def test_cell(entry: Row, column: str, am_world: Any, am_client: Any) -> None:
    from machi.core.models import AuditEvent

    client = am_client(column, api=entry.api)
    audited_before = (
        AuditEvent.objects.filter(action=entry.audit).count() if entry.audit is not None else 0
    )
    response = _ask(client, entry, am_world)
    expected = entry.expected(column)
    got = _outcome(response, entry)
    assert got == expected, (
        f"{entry.ident} as {column}: expected {expected}, got {response.status_code} "
        f"{response.get('Location', '')} {_body(response)[:300]}"
    )
    if expected != OK:
        return
    if entry.secret is not None:
        secret = entry.secret(am_world)
        shown = secret in _body(response)
        assert shown is entry.seen_by(column), (
            f"{entry.ident} as {column}: {secret!r} {'shown' if shown else 'not shown'}"
        )
    if entry.check is not None:
        assert entry.check(am_world, _body(response)), (
            f"{entry.ident} as {column}: unexpected answer {_body(response)[:500]}"
        )
    if entry.audit is not None and entry.seen_by(column):
        after = AuditEvent.objects.filter(action=entry.audit).count()
        if entry.audit_gap:
            assert after == audited_before, (
                f"{entry.ident} is audited now: remove its audit_gap from the matrix"
            )
        else:
            assert after > audited_before, f"{entry.ident} as {column}: no {entry.audit} event"


# --- The matrix stays whole ------------------------------------------------------------------


def _patterns(
    resolver: URLResolver, prefix: str = "", namespace: str = ""
) -> list[tuple[str, str, Any]]:
    found: list[tuple[str, str, Any]] = []
    for pattern in resolver.url_patterns:
        if isinstance(pattern, URLResolver):
            inner = namespace
            if pattern.namespace:
                inner = f"{namespace}:{pattern.namespace}" if namespace else pattern.namespace
            found += _patterns(pattern, prefix + str(pattern.pattern), inner)
        elif isinstance(pattern, URLPattern):
            name = f"{namespace}:{pattern.name}" if namespace else str(pattern.name)
            found.append((prefix + str(pattern.pattern), name, pattern.callback))
    return found


def page_routes() -> set[str]:
    """Every page's URL name (the API's operations are walked through its OpenAPI)."""
    names = set()
    for route, name, callback in _patterns(get_resolver()):
        if route.startswith("admin/"):
            continue
        if getattr(callback, "__module__", "") == "ninja.operation":
            continue
        names.add(name)
    return names


def api_operations() -> set[str]:
    from machi.config.api import api

    schema = api.get_openapi_schema()
    return {
        f"{method.upper()} {path}"
        for path, methods in schema["paths"].items()
        for method in methods
        if method in {"get", "post", "put", "patch", "delete"}
    }


def test_every_endpoint_is_classified() -> None:
    in_matrix = {entry.route for entry in MATRIX}
    known = in_matrix | set(matrix.NO_PERSONAL_DATA)
    missing = sorted((page_routes() | api_operations()) - known)
    assert not missing, (
        "Endpoints neither in the access matrix nor in NO_PERSONAL_DATA "
        f"(tests/security/matrix.py): {missing}"
    )
    both = sorted(in_matrix & set(matrix.NO_PERSONAL_DATA))
    assert not both, f"In the matrix and said to hold no personal data: {both}"
    gone = sorted(set(matrix.NO_PERSONAL_DATA) - page_routes() - api_operations())
    assert not gone, f"NO_PERSONAL_DATA names endpoints that no longer exist: {gone}"
    assert all(reason.strip() for reason in matrix.NO_PERSONAL_DATA.values())


def test_every_row_asks_the_endpoint_it_names(am_world: Any, db: Any) -> None:
    operations = api_operations()
    wrong = []
    for entry in MATRIX:
        if entry.route.split(" ", 1)[0] in {"GET", "POST", "PUT", "PATCH", "DELETE"}:
            if entry.route not in operations:
                wrong.append(f"{entry.ident}: no operation {entry.route}")
            continue
        path = entry.path(am_world).split("?", 1)[0]
        if resolve(path).view_name != entry.route:
            wrong.append(f"{entry.ident}: {path} is {resolve(path).view_name}, not {entry.route}")
    assert not wrong, wrong


def test_the_documented_matrix_is_the_tested_one() -> None:
    text = DOC.read_text(encoding="utf-8")
    found = re.search(re.escape(BEGIN) + r"\n(.*?)\n" + re.escape(END), text, re.DOTALL)
    assert found, f"docs/security.md has no {BEGIN} … {END} section"
    assert found.group(1).strip() == matrix.markdown().strip(), (
        "docs/security.md's access matrix differs from tests/security/matrix.py: paste the "
        "output of `python -m tests.security.matrix --markdown` between the markers"
    )
    rows, columns, cells = matrix.size()
    assert f"{rows} endpoints × {columns} callers = {cells} cells" in text


def test_labels_are_unique() -> None:
    idents = [entry.ident for entry in MATRIX]
    assert len(idents) == len(set(idents)), sorted({i for i in idents if idents.count(i) > 1})


# Personal data in the world: none of it may reach open data (published to everyone).
PERSONAL = ("東雲", "西園", "大宮", "hanako@example.jp", "subscriber@example.jp", "戸田様宅前")


def test_open_data_carries_no_personal_data(am_world: Any, db: Any) -> None:
    from machi.opendata import generators

    city = generators.city_current()
    published = [
        "\t".join(str(value) for value in row)
        for generator in generators.GENERATORS
        for layout in generator.layouts
        for row in layout.rows(city)
    ]
    assert published, "the world should publish something (facilities, shelters)"
    text = "\n".join(published)
    assert "小学校" in text  # the shelters are there, their evacuees are not
    assert not [word for word in PERSONAL if word in text]
