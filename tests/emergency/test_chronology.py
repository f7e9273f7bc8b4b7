"""The chronology (クロノロジー): HQ follows a disaster line by line, staff add lines, HQ prints.

Lines are never changed: a correction is a new line. Prints and downloads are audited.
"""

from __future__ import annotations

import base64
import datetime as dt
import re
import time
import zlib
from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client
from django.urls import Resolver404, resolve
from django.utils import timezone

from machi.core.models import AuditEvent, User
from machi.core.roles import Role
from machi.emergency import services, views_chronology
from machi.emergency.models import ChronologyEntry, ChronologyKind, Department, Disaster

URL = "/console/chronology/"
API = "/api/v1/chronology"
EN = {"Accept-Language": "en"}
TOKYO = dt.timezone(dt.timedelta(hours=9))


# --- Given … ----------------------------------------------------------------------------------


@pytest.fixture
def typhoon(hq: User) -> Disaster:
    """A declared typhoon (the declaration is its first line). No shelters: no responders."""
    return services.disaster_declare(
        name="令和元年東日本台風",
        hazards=["flood"],
        declared_by=hq,
        started_at=dt.datetime(2019, 10, 12, 9, 0, tzinfo=TOKYO),
    )


@pytest.fixture
def field(make_staff: Callable[..., User]) -> User:
    user = make_staff(Role.FIELD, username="field")
    Department.objects.create(name="道路課", order=2).members.add(user)
    Department.objects.create(name="下水道課", order=3).members.add(user)
    return user


@pytest.fixture
def nobody(make_staff: Callable[..., User]) -> User:
    return make_staff(None, username="nobody")


def line(
    disaster: Disaster | None,
    text: str,
    *,
    at: dt.datetime,
    kind: str = ChronologyKind.NOTE,
    important: bool = False,
    actor: str = "hq",
    department: str = "",
    object_type: str = "",
    object_id: str = "",
) -> ChronologyEntry:
    return ChronologyEntry.objects.create(
        disaster=disaster,
        text=text,
        at=at,
        kind=kind,
        important=important,
        actor=actor,
        department=department,
        object_type=object_type,
        object_id=object_id,
    )


def at(day: int, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime(2019, 10, day, hour, minute, tzinfo=TOKYO)


@pytest.fixture
def evening(typhoon: Disaster) -> Disaster:
    """A few lines over two days, of several kinds."""
    line(typhoon, "大雨警報（土砂災害）発表", at=at(12, 10), kind="weather")
    line(typhoon, "戸田東小学校 避難所開設", at=at(12, 14), kind="shelter")
    line(
        typhoon,
        "上戸田1丁目 道路冠水",
        at=at(12, 23, 30),
        kind="incident",
        important=True,
        actor="field",
        department="道路課",
    )
    line(typhoon, "荒川 氾濫危険水位に到達", at=at(13, 1, 15), kind="weather", important=True)
    line(typhoon, "本部会議（第2回）", at=at(13, 8), actor="hq", department="危機管理防災課")
    return typhoon


def texts(response: Any) -> list[str]:
    return [ln.entry.text for ln in response.context["lines"]]


# --- The timeline -----------------------------------------------------------------------------


def test_hq_sees_the_current_disaster_newest_first_with_the_date_when_the_day_changes(
    client: Client, hq: User, evening: Disaster
) -> None:
    client.force_login(hq)
    response = client.get(URL)
    assert response.status_code == 200
    assert texts(response) == [
        "本部会議（第2回）",
        "荒川 氾濫危険水位に到達",
        "上戸田1丁目 道路冠水",
        "戸田東小学校 避難所開設",
        "大雨警報（土砂災害）発表",
        "災害対策本部設置: 令和元年東日本台風（洪水）",
    ]
    dated = [ln.show_date for ln in response.context["lines"]]
    assert dated == [True, False, True, False, False, False]
    page = response.content.decode()
    # Times are Tokyo's, 24-hour; the date shows where the day changes.
    assert '<span class="chronology__date">2019-10-13</span> 08:00' in page
    assert '<span class="chronology__date">2019-10-12</span> 23:30' in page
    assert "chronology__line--important" in page
    assert "field · 道路課" in page
    # The disaster is pinned in the refresh address, so a second declaration does not move it.
    assert f'hx-get="/console/chronology/entries/?disaster={evening.pk}"' in page
    assert 'hx-trigger="every 10s"' in page


def test_filters_by_kind_importance_words_and_time(
    client: Client, hq: User, evening: Disaster
) -> None:
    client.force_login(hq)
    weather = client.get(URL, {"kind": ["weather"]})
    assert texts(weather) == ["荒川 氾濫危険水位に到達", "大雨警報（土砂災害）発表"]
    two_kinds = client.get(URL, {"kind": ["weather", "shelter"]})
    assert len(texts(two_kinds)) == 3
    important = client.get(URL, {"important": "on"})
    assert set(texts(important)) == {
        "荒川 氾濫危険水位に到達",
        "上戸田1丁目 道路冠水",
        "災害対策本部設置: 令和元年東日本台風（洪水）",
    }
    # Words match the line, the writer and the department; full-width digits match half-width.
    assert texts(client.get(URL, {"q": "道路"})) == ["上戸田1丁目 道路冠水"]
    assert texts(client.get(URL, {"q": "上戸田１丁目"})) == ["上戸田1丁目 道路冠水"]
    assert texts(client.get(URL, {"q": "危機管理"})) == ["本部会議（第2回）"]
    # From and until are Tokyo times (datetime-local inputs).
    night = client.get(URL, {"since": "2019-10-12T23:00", "until": "2019-10-13T02:00"})
    assert texts(night) == ["荒川 氾濫危険水位に到達", "上戸田1丁目 道路冠水"]
    # Filters combine, and the refresh keeps them.
    both = client.get(URL, {"kind": "weather", "important": "on"})
    assert texts(both) == ["荒川 氾濫危険水位に到達"]
    assert "kind=weather" in both.context["query"]
    assert "important=on" in both.context["query"]
    assert f"entries/?{both.context['query']}".replace("&", "&amp;") in both.content.decode()


def test_an_impossible_time_range_is_explained(client: Client, hq: User, evening: Disaster) -> None:
    client.force_login(hq)
    response = client.get(
        URL, {"since": "2019-10-13T00:00", "until": "2019-10-12T00:00"}, headers=EN
    )
    assert response.status_code == 400
    assert "The end is before the start." in response.content.decode()


def test_pages_of_a_hundred_lines(client: Client, hq: User, typhoon: Disaster) -> None:
    start = at(12, 10)
    ChronologyEntry.objects.bulk_create(
        ChronologyEntry(
            disaster=typhoon, kind="note", text=f"記録{i:03d}", at=start + dt.timedelta(minutes=i)
        )
        for i in range(250)
    )
    client.force_login(hq)
    first = client.get(URL)
    assert len(first.context["lines"]) == 100
    assert texts(first)[0] == "記録249"
    assert first.context["page"].paginator.count == 251  # and the declaration
    assert first.context["live"] is True
    third = client.get(URL, {"page": 3, "kind": "note"})
    assert texts(third) == [f"記録{i:03d}" for i in range(49, -1, -1)]
    # Only the first page refreshes itself: on older pages the lines would move under the eye.
    assert third.context["live"] is False
    assert "hx-trigger" not in third.content.decode()
    assert "kind=note&amp;page=2" in third.content.decode()


def test_any_disaster_or_the_lines_of_normal_times_can_be_chosen(
    client: Client, hq: User, evening: Disaster
) -> None:
    earlier = services.disaster_declare(
        name="地震", hazards=["earthquake"], declared_by=hq, started_at=at(1, 9)
    )
    services.disaster_end(disaster=earlier, ended_by=hq)
    line(None, "大雨注意報（平常時）", at=at(11, 9), kind="weather")
    client.force_login(hq)
    shown = client.get(URL, {"disaster": earlier.pk})
    assert texts(shown) == ["災害対策本部廃止: 地震", "災害対策本部設置: 地震（地震）"]
    assert texts(client.get(URL, {"disaster": "none"})) == ["大雨注意報（平常時）"]
    # Not a disaster of this city: the current one is shown, and the form says why.
    wrong = client.get(URL, {"disaster": "999999"})
    assert wrong.status_code == 400
    assert wrong.context["filters"].disaster == evening


def test_with_no_disaster_active_the_normal_times_are_shown(
    client: Client, hq: User, db: None
) -> None:
    line(None, "震度3 観測", at=at(11, 9), kind="weather")
    client.force_login(hq)
    response = client.get(URL)
    assert response.context["filters"].disaster is None
    assert texts(response) == ["震度3 観測"]


def test_the_refresh_returns_only_the_list_with_the_same_filters(
    client: Client, hq: User, evening: Disaster
) -> None:
    client.force_login(hq)
    response = client.get(f"{URL}entries/", {"disaster": evening.pk, "kind": "weather"})
    assert response.status_code == 200
    page = response.content.decode()
    assert 'id="chronology-list"' in page
    assert "<html" not in page
    assert "荒川 氾濫危険水位に到達" in page
    assert "本部会議" not in page
    assert "kind=weather" in page
    assert "no-cache" in response["Cache-Control"] or "max-age=0" in response["Cache-Control"]


def test_lines_link_to_their_records_where_those_pages_exist(
    client: Client, hq: User, counter: User, evening: Disaster
) -> None:
    incident_id = "0b6f6b2e-5d7e-4d1c-9a7a-1d2d3c4b5a69"
    opening = {"kind": "shelter", "object_type": "shelters.opening"}
    line(evening, "避難所 満員", at=at(13, 9), **opening)
    line(evening, "避難所 開設", at=at(13, 9), object_id="7", **opening)
    incident = {"kind": "incident", "object_type": "emergency.incident"}
    line(evening, "土砂崩れ", at=at(13, 10), object_id=incident_id, **incident)
    line(evening, "謎", at=at(13, 11), object_type="emergency.unknown", object_id="1")
    client.force_login(hq)
    links = {ln.entry.text: ln.link for ln in client.get(URL, headers=EN).context["lines"]}
    declaration = f"災害対策本部設置: {evening.name}（洪水）"
    assert links[declaration] == (f"/console/disasters/{evening.pk}/", "See the disaster")
    assert links["避難所 開設"] == (
        f"/console/shelters/dashboard/?disaster={evening.pk}",
        "See the shelter dashboard",
    )
    assert links["避難所 満員"] is None  # no record id: nothing to link to
    assert links["謎"] is None
    # Incident pages are being built: linked once the address exists, plain text until then.
    try:
        resolve(f"/console/incidents/{incident_id}/")
    except Resolver404:
        assert links["土砂崩れ"] is None
    else:
        assert links["土砂崩れ"] is not None
    # Counter staff may not open HQ's shelter dashboard: no link that ends in a refusal.
    client.force_login(counter)
    links = {ln.entry.text: ln.link for ln in client.get(URL, headers=EN).context["lines"]}
    assert links["避難所 開設"] is None
    assert links[declaration] is not None


def test_a_link_rule_falls_back_to_no_link_when_neither_name_nor_path_exists() -> None:
    rule = views_chronology.LinkRule(
        "emergency.task", ("nowhere:task",), "/console/not-built-yet/{id}/", "x"
    )
    assert views_chronology._address(rule, "3") is None
    named = views_chronology.LinkRule("emergency.disaster", ("emergency:disaster",), None, "x")
    assert views_chronology._address(named, "3") == "/console/disasters/3/"


# --- Typing a line ----------------------------------------------------------------------------


def test_field_staff_add_a_line_under_their_first_department(
    client: Client, field: User, evening: Disaster
) -> None:
    client.force_login(field)
    page = client.get(URL, {"kind": "note"})
    assert page.context["entry_form"]["department"].value() == "道路課"
    assert '<option value="下水道課">' in page.content.decode()
    response = client.post(
        f"{URL}?disaster={evening.pk}&kind=note",
        {"text": "  市道123号線  通行止め解除 ", "important": "on", "department": "道路課"},
    )
    assert response.status_code == 302
    # Back to the same filters, on the first page.
    assert response["Location"] == f"{URL}?disaster={evening.pk}&kind=note"
    entry = ChronologyEntry.objects.get(text="市道123号線 通行止め解除")
    assert (entry.disaster, entry.kind, entry.actor) == (evening, "note", "field")
    assert (entry.important, entry.department) == (True, "道路課")
    assert texts(client.get(response["Location"]))[0] == "市道123号線 通行止め解除"


def test_the_department_defaults_to_the_profile_without_a_department(
    client: Client, make_staff: Callable[..., User], evening: Disaster
) -> None:
    hq = make_staff(Role.HQ, username="hq2", department="危機管理防災課")
    client.force_login(hq)
    assert client.get(URL).context["entry_form"]["department"].value() == "危機管理防災課"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        pytest.param("", "This field is required.", id="empty"),
        pytest.param("   ", "This field is required.", id="blank"),
        pytest.param(
            "あ" * 1001,
            "Ensure this value has at most 1000 characters (it has 1001).",
            id="too-long",
        ),
    ],
)
def test_a_line_must_say_something_and_fit(
    client: Client, hq: User, evening: Disaster, text: str, message: str
) -> None:
    client.force_login(hq)
    before = ChronologyEntry.objects.count()
    response = client.post(f"{URL}?disaster={evening.pk}", {"text": text}, headers=EN)
    assert response.status_code == 400
    assert message in response.content.decode()
    assert 'class="error-summary"' in response.content.decode()
    assert ChronologyEntry.objects.count() == before


def test_a_thousand_characters_fit(client: Client, hq: User, evening: Disaster) -> None:
    client.force_login(hq)
    response = client.post(f"{URL}?disaster={evening.pk}", {"text": "い" * 1000})
    assert response.status_code == 302
    assert ChronologyEntry.objects.filter(text="い" * 1000).exists()


def test_lines_cannot_be_changed_and_the_page_says_how_to_correct_them(
    client: Client, hq: User, evening: Disaster
) -> None:
    client.force_login(hq)
    page = client.get(URL, headers=EN).content.decode()
    assert "Entries cannot be changed or deleted afterwards" in page
    assert "add a new entry that says what was wrong" in page
    assert "/edit" not in page
    assert "/delete" not in page


def test_on_the_normal_times_page_during_a_disaster_lines_go_to_the_disaster(
    client: Client, hq: User, evening: Disaster
) -> None:
    client.force_login(hq)
    page = client.get(URL, {"disaster": "none"})
    assert page.context["writes_here"] is False
    assert f'href="?disaster={evening.pk}"' in page.content.decode()
    response = client.post(f"{URL}?disaster=none", {"text": "どこへ"})
    assert response.status_code == 400
    assert not ChronologyEntry.objects.filter(text="どこへ").exists()


# --- Who may -----------------------------------------------------------------------------------


def test_auditors_read_but_cannot_write(client: Client, auditor: User, evening: Disaster) -> None:
    client.force_login(auditor)
    page = client.get(URL)
    assert page.status_code == 200
    assert "本部会議（第2回）" in page.content.decode()
    assert page.context["may_write"] is False
    assert 'name="text"' not in page.content.decode()
    assert client.post(URL, {"text": "監査の書き込み"}).status_code == 403
    assert not ChronologyEntry.objects.filter(text="監査の書き込み").exists()


def test_counter_staff_read(client: Client, counter: User, evening: Disaster) -> None:
    client.force_login(counter)
    assert client.get(URL).status_code == 200
    assert client.get(f"{URL}entries/").status_code == 200
    assert client.post(URL, {"text": "窓口"}).status_code == 403


def test_a_user_without_a_role_is_refused(client: Client, nobody: User, evening: Disaster) -> None:
    client.force_login(nobody)
    for path in (URL, f"{URL}entries/", f"{URL}print.pdf", f"{URL}export.csv"):
        assert client.get(path).status_code == 403, path


def test_signed_out_people_are_sent_to_sign_in(client: Client, evening: Disaster) -> None:
    response = client.get(URL)
    assert response.status_code == 302
    assert response["Location"].startswith("/console/login/")


@pytest.mark.parametrize("who", ["field", "counter", "auditor"])
def test_only_hq_prints_and_downloads(
    client: Client, request: pytest.FixtureRequest, evening: Disaster, who: str
) -> None:
    client.force_login(request.getfixturevalue(who))
    page = client.get(URL)
    assert "print.pdf" not in page.content.decode()
    assert client.get(f"{URL}print.pdf").status_code == 403
    assert client.get(f"{URL}export.csv").status_code == 403
    assert not AuditEvent.objects.filter(action="export").exists()


# --- Print and download (HQ) ------------------------------------------------------------------


def pdf_streams(data: bytes) -> list[bytes]:
    """ReportLab's page contents: ASCII85, then Flate."""
    streams = []
    for match in re.finditer(rb"stream\r?\n(.*?)endstream", data, re.DOTALL):
        raw = match.group(1).strip()
        if raw.endswith(b"~>"):
            raw = base64.a85decode(raw[:-2])
        try:
            streams.append(zlib.decompress(raw))
        except zlib.error:
            streams.append(raw)
    return streams


def _unescape(literal: bytes) -> bytes:
    out, i = bytearray(), 0
    simple = {b"n": b"\n", b"r": b"\r", b"t": b"\t", b"b": b"\b", b"f": b"\f"}
    while i < len(literal):
        char = literal[i : i + 1]
        if char != b"\\":
            out += char
            i += 1
            continue
        following = literal[i + 1 : i + 2]
        octal = re.match(rb"[0-7]{1,3}", literal[i + 1 : i + 4])
        if octal:
            out.append(int(octal.group(), 8) & 0xFF)
            i += 1 + len(octal.group())
        else:
            out += simple.get(following, following)
            i += 2
    return bytes(out)


def pdf_text(data: bytes) -> str:
    """The text drawn with the Japanese CID font (UTF-16BE strings), a line per string."""
    found = []
    for stream in pdf_streams(data):
        for literal in re.findall(rb"\(((?:\\.|[^\\)])*)\) Tj", stream, re.DOTALL):
            found.append(_unescape(literal).decode("utf-16-be", errors="replace"))
    return "\n".join(found)


def pdf_pages(data: bytes) -> int:
    return len(re.findall(rb"/Type /Page\b(?!s)", data))


def test_hq_prints_the_filtered_chronology_in_time_order(
    client: Client, hq: User, evening: Disaster, municipality: Any
) -> None:
    client.force_login(hq)
    response = client.get(f"{URL}print.pdf", {"disaster": evening.pk, "kind": "weather"})
    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert response["Content-Disposition"].startswith("inline; filename=")
    data = response.content
    assert data.startswith(b"%PDF-")
    assert data.rstrip().endswith(b"%%EOF")
    assert pdf_pages(data) == 1
    text = pdf_text(data)
    assert "令和元年東日本台風" in text
    assert "埼玉県 戸田市" in text  # the heading of every page: city, disaster, print time
    assert text.index("大雨警報（土砂災害）発表") < text.index("荒川 氾濫危険水位に到達")
    assert "本部会議" not in text  # not a weather line
    assert "1 / 1" in text
    event = AuditEvent.objects.get(action="export", object_type="emergency.chronologyentry")
    assert event.actor_username == "hq"
    assert event.detail["format"] == "pdf"
    assert event.detail["rows"] == 2
    assert event.detail["filters"]["kinds"] == ["weather"]


def test_important_lines_are_printed_bold(client: Client, hq: User, evening: Disaster) -> None:
    client.force_login(hq)
    data = client.get(f"{URL}print.pdf", {"important": "on"}).content
    contents = b"".join(pdf_streams(data))
    # Filled and stroked text (render mode 2): the CID font has a single weight.
    assert b"2 Tr" in contents
    plain = client.get(f"{URL}print.pdf", {"kind": "shelter"}).content
    assert b"2 Tr" not in b"".join(pdf_streams(plain))


def test_a_print_with_bad_filters_is_refused_rather_than_printing_more(
    client: Client, hq: User, evening: Disaster
) -> None:
    client.force_login(hq)
    response = client.get(f"{URL}print.pdf", {"since": "yesterday"})
    assert response.status_code == 400
    assert response["Content-Type"].startswith("text/html")
    assert not AuditEvent.objects.filter(action="export").exists()


def test_five_thousand_lines_print_on_numbered_pages_in_reasonable_time(
    client: Client, hq: User, typhoon: Disaster
) -> None:
    start = at(12, 10)
    texts_ = [
        "戸田東小学校 避難所を開設。収容 120 名、うち要配慮者 8 名。",
        "道路冠水：上戸田1丁目 市道123号線 通行止め（警察に連絡済み）",
        "本部会議を開催し、避難指示（レベル4）の発令を決定した。" * 3,
    ]
    ChronologyEntry.objects.bulk_create(
        ChronologyEntry(
            disaster=typhoon,
            kind=("note", "incident", "shelter", "weather")[i % 4],
            text=f"{i:04d} {texts_[i % 3]}",
            at=start + dt.timedelta(seconds=30 * i),
            actor="hq",
            department="危機管理防災課",
            important=i % 10 == 0,
        )
        for i in range(5000)
    )
    client.force_login(hq)
    began = time.perf_counter()
    response = client.get(f"{URL}print.pdf")
    took = time.perf_counter() - began
    data = response.content
    pages = pdf_pages(data)
    print(f"\nchronology PDF: 5,001 lines, {pages} pages, {len(data) // 1024} KiB, {took:.2f} s")
    assert response.status_code == 200
    assert pages > 50
    text = pdf_text(data)
    assert f"1 / {pages}" in text
    assert f"{pages} / {pages}" in text
    assert "4999 道路冠水" in text
    assert "0000 戸田東小学校" in text
    # Measured at about 2 s (5,001 lines, ~270 pages); generous for slow CI machines.
    assert took < 30


def test_a_print_beyond_the_limit_asks_for_narrower_filters(
    client: Client, hq: User, evening: Disaster, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(views_chronology, "PRINT_LIMIT", 3)
    client.force_login(hq)
    response = client.get(f"{URL}print.pdf", {"disaster": evening.pk}, headers=EN)
    assert response.status_code == 302
    assert response["Location"] == f"{URL}?disaster={evening.pk}"
    assert "narrow the filters" in client.get(response["Location"], headers=EN).content.decode()
    assert not AuditEvent.objects.filter(action="export").exists()
    narrower = client.get(f"{URL}print.pdf", {"disaster": evening.pk, "kind": "weather"})
    assert narrower.status_code == 200


def test_hq_downloads_csv_for_excel(client: Client, hq: User, evening: Disaster) -> None:
    line(evening, '=HYPERLINK("http://example.invalid")', at=at(13, 9))
    client.force_login(hq)
    response = client.get(f"{URL}export.csv", {"disaster": evening.pk}, headers=EN)
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"].startswith("attachment; filename=")
    data = response.content
    assert data.startswith(b"\xef\xbb\xbf")
    rows = data.decode("utf-8-sig").split("\r\n")
    assert rows[0] == "Time,Kind,Entry,Important,Written by,Department,Record type,Record id"
    assert rows[1].startswith("2019-10-12 09:00:00,Disaster,")  # oldest first, Tokyo time
    assert "2019-10-12 23:30:00,Incidents,上戸田1丁目 道路冠水,★,field,道路課,," in rows
    # Typed text is never run as a formula by Excel.
    assert any(row.startswith("2019-10-13 09:00:00,Entries by staff,\"'=HYPERLINK") for row in rows)
    event = AuditEvent.objects.get(action="export", object_type="emergency.chronologyentry")
    assert event.detail == {"format": "csv", "rows": 7, "filters": {"disaster": evening.pk}}


# --- API --------------------------------------------------------------------------------------


def bearer(user: User) -> dict[str, str]:
    from machi.core import services as core_services

    _, secret = core_services.token_create(user=user, name="test")
    return {"Authorization": f"Bearer {secret}"}


def test_api_lists_the_current_chronology_with_iso_times(
    client: Client, hq: User, evening: Disaster
) -> None:
    response = client.get(API, headers=bearer(hq))
    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 6
    assert body["next_cursor"] is None
    first = body["items"][0]
    assert first["text"] == "本部会議（第2回）"
    assert first["disaster_id"] == evening.pk
    assert first["kind"] == "note"
    assert dt.datetime.fromisoformat(first["at"]) == at(13, 8)
    assert first["department"] == "危機管理防災課"


def test_api_filters_and_pages(client: Client, counter: User, evening: Disaster) -> None:
    headers = bearer(counter)
    weather = client.get(API, {"kind": ["weather", "shelter"]}, headers=headers).json()
    assert [i["kind"] for i in weather["items"]] == ["weather", "shelter", "weather"]
    important = client.get(API, {"important": "true"}, headers=headers).json()
    assert important["count"] == 3
    since = client.get(
        API, {"since": "2019-10-12T23:00:00+09:00", "until": "2019-10-13T02:00:00+09:00"},
        headers=headers,
    ).json()  # fmt: skip
    assert [i["text"] for i in since["items"]] == [
        "荒川 氾濫危険水位に到達",
        "上戸田1丁目 道路冠水",
    ]
    assert client.get(API, {"q": "冠水"}, headers=headers).json()["count"] == 1
    # A cursor walks through every line once, newest first.
    seen: list[str] = []
    cursor: str | None = None
    while True:
        params: dict[str, Any] = {"limit": 2}
        if cursor:
            params["cursor"] = cursor
        page = client.get(API, params, headers=headers).json()
        assert page["count"] == 6
        seen += [i["text"] for i in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == 6
    assert len(set(seen)) == 6
    assert seen[0] == "本部会議（第2回）"
    offset = client.get(API, {"limit": 2, "offset": 4}, headers=headers).json()
    assert [i["text"] for i in offset["items"]] == seen[4:]
    other = client.get(API, {"disaster_id": evening.pk + 1000}, headers=headers)
    assert other.status_code == 422


@pytest.mark.parametrize(
    ("params", "field"),
    [
        pytest.param({"limit": 501}, "limit", id="limit-over-500"),
        pytest.param({"cursor": "not-a-cursor"}, "cursor", id="bad-cursor"),
        pytest.param({"kind": "gossip"}, "kind.0", id="unknown-kind"),
        pytest.param(
            {"since": "2019-10-13T00:00:00+09:00", "until": "2019-10-12T00:00:00+09:00"},
            "until",
            id="until-before-since",
        ),
    ],
)
def test_api_explains_bad_queries(
    client: Client, hq: User, evening: Disaster, params: dict[str, Any], field: str
) -> None:
    response = client.get(API, params, headers=bearer(hq))
    assert response.status_code == 422
    assert response["Content-Type"] == "application/problem+json"
    fields = [e["field"] for e in response.json()["errors"]]
    assert any(name.startswith("query.") and name.endswith(field) for name in fields), fields


def test_api_adds_a_line(client: Client, field: User, evening: Disaster) -> None:
    response = client.post(
        API,
        {"text": "市道123号線 復旧", "important": True},
        content_type="application/json",
        headers=bearer(field),
    )
    assert response.status_code == 201
    body = response.json()
    assert body["text"] == "市道123号線 復旧"
    assert body["important"] is True
    assert body["kind"] == "note"
    assert body["actor"] == "field"
    assert body["department"] == "道路課"  # the first of the writer's departments
    assert body["disaster_id"] == evening.pk
    assert dt.datetime.fromisoformat(body["at"]).tzinfo is not None
    assert ChronologyEntry.objects.get(pk=body["id"]).text == "市道123号線 復旧"


def test_api_adds_a_line_to_another_disaster(client: Client, hq: User, evening: Disaster) -> None:
    other = services.disaster_declare(name="地震", hazards=["earthquake"], declared_by=hq)
    response = client.post(
        API,
        {"text": "余震", "disaster_id": other.pk, "department": "本部"},
        content_type="application/json",
        headers=bearer(hq),
    )
    assert response.status_code == 201
    assert response.json()["disaster_id"] == other.pk
    assert response.json()["department"] == "本部"


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        pytest.param({"text": ""}, "body.payload.text", id="empty"),
        pytest.param({"text": "   "}, "body.payload.text", id="blank"),
        pytest.param({"text": "あ" * 1001}, "body.payload.text", id="too-long"),
        pytest.param(
            {"text": "x", "disaster_id": 999999}, "body.payload.disaster_id", id="no-such"
        ),
    ],
)
def test_api_refuses_bad_lines(
    client: Client, hq: User, evening: Disaster, payload: dict[str, Any], field: str
) -> None:
    before = ChronologyEntry.objects.count()
    response = client.post(API, payload, content_type="application/json", headers=bearer(hq))
    assert response.status_code == 422
    assert field in [e["field"] for e in response.json()["errors"]]
    assert ChronologyEntry.objects.count() == before


def test_api_auditors_read_but_cannot_add(client: Client, auditor: User, evening: Disaster) -> None:
    headers = bearer(auditor)
    assert client.get(API, headers=headers).status_code == 200
    response = client.post(API, {"text": "監査"}, content_type="application/json", headers=headers)
    assert response.status_code == 403
    assert response["Content-Type"] == "application/problem+json"
    assert not ChronologyEntry.objects.filter(text="監査").exists()


def test_api_refuses_users_without_a_role_and_strangers(
    client: Client, nobody: User, evening: Disaster
) -> None:
    assert client.get(API).status_code == 401
    client.force_login(nobody)
    assert client.get(API).status_code == 401
    assert client.post(API, {"text": "x"}, content_type="application/json").status_code == 401


def test_lines_typed_through_the_api_and_the_page_are_the_same_lines(
    client: Client, hq: User, evening: Disaster
) -> None:
    client.post(API, {"text": "API から"}, content_type="application/json", headers=bearer(hq))
    client.force_login(hq)
    assert texts(client.get(URL))[0] == "API から"
    assert timezone.is_aware(ChronologyEntry.objects.get(text="API から").at)
