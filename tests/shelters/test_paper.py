"""Paper fallback: when the network is down, a shelter registers people on printed cards and a
blank roster; staff type the cards in later. Each record keeps the time written on the card and
says it came from paper; the same card typed twice records once; only who runs the shelter may.
"""

from __future__ import annotations

import base64
import datetime as dt
import re
import uuid
import zlib
from collections.abc import Callable
from typing import Any

import pytest
import segno
from django.test import Client
from django.utils import timezone, translation
from hypothesis import given
from hypothesis import strategies as st

from machi.core import pdffonts
from machi.core.models import AuditEvent, User
from machi.core.roles import Role
from machi.emergency.models import Disaster
from machi.shelters import paper, services
from machi.shelters.forms_paper import BirthDateField
from machi.shelters.models import (
    CONSENT_ITEMS,
    Allergen,
    Checkin,
    CheckinEvent,
    Household,
    Need,
    Opening,
    Person,
    Sex,
)

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _english(settings: Any) -> Any:
    """The messages checked here are the English ones (the default language is Japanese)."""
    settings.LANGUAGE_CODE = "en"
    with translation.override("en"):
        yield


PDF_PAGE = re.compile(rb"/Type\s*/Page(?![a-zA-Z])")
STREAM = re.compile(rb"stream\r?\n(.*?)endstream", re.S)
MODULES = re.compile(rb"n (\d+) (\d+) (\d+) 1 re f")


# --- Reading the PDFs back ----------------------------------------------------------------------


def pages(pdf: bytes) -> int:
    assert pdf.startswith(b"%PDF-")
    assert pdf.rstrip().endswith(b"%%EOF")
    return len(PDF_PAGE.findall(pdf))


def streams(pdf: bytes) -> list[bytes]:
    """Every stream of the PDF, decoded (ReportLab: ASCII85 then Flate; fonts: Flate)."""
    decoded = []
    for match in STREAM.finditer(pdf):
        raw = match.group(1).strip()
        try:
            data = raw if raw.startswith(b"x") else base64.a85decode(raw.removesuffix(b"~>"))
            decoded.append(zlib.decompress(data))
        except (ValueError, zlib.error):
            continue
    return decoded


def qr_codes(pdf: bytes) -> list[set[tuple[int, int]]]:
    """The QR codes drawn in the PDF, each as its set of dark modules (row, column)."""
    codes = []
    for data in streams(pdf):
        rectangles = [tuple(map(int, m)) for m in MODULES.findall(data)]
        if not rectangles or len(rectangles) != data.count(b" re "):
            continue  # not a QR code: other boxes, text
        size = max(y for _, y, _ in rectangles) + 1
        codes.append(
            {(size - 1 - y, column) for x, y, width in rectangles for column in range(x, x + width)}
        )
    return codes


def dark_modules(text: str) -> set[tuple[int, int]]:
    matrix = segno.make(text, error="m").matrix
    return {(r, c) for r, row in enumerate(matrix) for c, dark in enumerate(row) if dark}


def assert_japanese_font_embedded(pdf: bytes) -> None:
    if pdffonts.font_name() == pdffonts.EMBEDDED:
        assert b"/FontFile2" in pdf  # the IPA font, embedded (subset)
        assert b"IPAMincho" in pdf
    else:  # no IPA font on this machine: the viewer's CID font, named
        assert pdffonts.FALLBACK.encode() in pdf


# --- The card's number ---------------------------------------------------------------------------


@given(st.integers(min_value=0, max_value=2**paper.CODE_BITS - 1))
def test_a_card_number_reads_back_from_its_code_and_from_its_qr_uuid(number: int) -> None:
    card = paper.CardId(number)
    assert re.fullmatch(
        r"[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{3}", card.code
    )
    assert paper.CardId.parse(card.code) == card
    assert paper.CardId.parse(card.code.lower().replace("-", " ")) == card
    assert paper.CardId.parse(str(card.uuid)) == card
    assert paper.CardId.parse(f"urn:uuid:{card.uuid}") == card
    assert card.uuid.version == 8
    assert paper.CardId.from_uuid(card.uuid) == card


@given(
    st.integers(min_value=0, max_value=2**paper.CODE_BITS - 1),
    st.integers(min_value=0, max_value=10),
    st.sampled_from(paper.SYMBOLS),
)
def test_one_symbol_misread_is_never_taken_for_another_card(
    number: int, position: int, wrong: str
) -> None:
    code = paper.CardId(number).code.replace("-", "")
    if code[position] == wrong:
        return
    misread = code[:position] + wrong + code[position + 1 :]
    assert paper.CardId.parse(misread) is None


def test_what_is_not_a_card_number() -> None:
    card = paper.CardId.new()
    letters = card.code.replace("-", "")
    assert paper.CardId.parse(str(uuid.uuid4())) is None  # a UUID no card carries
    assert paper.CardId.parse(letters[:-1]) is None
    assert paper.CardId.parse("") is None
    assert paper.CardId.parse("ＡＢＣ") is None
    # Handwriting: O for 0 and I or L for 1 are read as the digits; full-width digits too.
    assert paper.CardId.parse(letters.replace("0", "O").replace("1", "l")) == card
    assert paper.CardId.parse(
        letters.translate(str.maketrans("0123456789", "０１２３４５６７８９"))
    )


def test_every_choice_has_its_words_on_the_card() -> None:
    assert set(paper.NEED_WORDS) == set(Need)
    assert sorted(paper.NEED_NUMBERS.values()) == list(range(1, len(Need) + 1))
    assert set(paper.ALLERGEN_WORDS) == set(Allergen)
    assert set(paper.SEX_WORDS) == set(Sex)
    assert list(paper.CONSENT_WORDS) == list(CONSENT_ITEMS)


# --- The printed forms ---------------------------------------------------------------------------


def test_blank_cards_one_page_each_with_the_font_and_a_qr_code_of_each_card() -> None:
    cards = [paper.CardId.new() for _ in range(3)]
    pdf = paper.cards_pdf(cards, shelter="美女木小学校", disaster="令和元年台風第19号")
    assert pages(pdf) == 3
    assert_japanese_font_embedded(pdf)
    drawn = qr_codes(pdf)
    for card in cards:
        assert dark_modules(str(card.uuid)) in drawn
        # The number, in a plain font any viewer shows (and a search finds).
        assert f"({card.code}) Tj".encode() in b"".join(streams(pdf))


def test_a_blank_roster_has_the_pages_asked_for() -> None:
    pdf = paper.roster_pdf(pages=4, shelter="美女木小学校", disaster="令和元年台風第19号")
    assert pages(pdf) == 4
    assert_japanese_font_embedded(pdf)
    assert pages(paper.roster_pdf(pages=1)) == 1  # a roster kept ready: names written in


# --- Given a typhoon declared three days ago and two open shelters -------------------------------


@pytest.fixture
def storm(typhoon: Disaster) -> Disaster:
    Disaster.objects.filter(pk=typhoon.pk).update(started_at=timezone.now() - dt.timedelta(days=3))
    typhoon.refresh_from_db()
    return typhoon


@pytest.fixture
def desk(storm: Disaster, open_shelters: list[Opening]) -> Opening:
    opening = open_shelters[1]
    opening.refresh_from_db()
    return opening


def staff_at(make_staff: Callable[..., User], opening: Opening, name: str = "desk") -> User:
    return make_staff(Role.SHELTER_STAFF, username=name, facilities=[opening.shelter.facility])


def yesterday_at(hour: int, minute: int) -> dt.datetime:
    day = timezone.localdate() - dt.timedelta(days=1)
    return timezone.make_aware(dt.datetime.combine(day, dt.time(hour, minute)))


def card_data(written: dt.datetime, **changes: str) -> dict[str, Any]:
    """The form as staff fill it from a card of two people (rows 3 to 6 left blank)."""
    data = {
        "checked_in_at": timezone.localtime(written).strftime("%Y-%m-%dT%H:%M"),
        "checked_out_at": "",
        "address": "戸田市美女木1-2-3",
        "phone": "048-000-0000",
        "pets": "",
        "consent": ["name", "whereabouts"],
        "members-TOTAL_FORMS": str(paper.CARD_ROWS),
        "members-INITIAL_FORMS": "0",
        "members-MIN_NUM_FORMS": "1",
        "members-MAX_NUM_FORMS": str(paper.CARD_ROWS),
        "members-0-family_name": "戸田",
        "members-0-given_name": "一郎",
        "members-0-family_name_kana": "とだ",
        "members-0-given_name_kana": "いちろう",
        "members-0-birth_date": "S55.4.1",
        "members-0-sex": "male",
        "members-0-needs": ["medication"],
        "members-1-family_name": "戸田",
        "members-1-given_name": "花子",
        "members-1-birth_date": "2019-06-01",
        "members-1-allergies": ["egg"],
    }
    data.update(changes)
    return data


def card_url(opening: Opening, card: paper.CardId) -> str:
    return f"/console/shelters/paper/openings/{opening.pk}/cards/{card.uuid}/"


def test_a_typed_in_card_becomes_stays_from_paper_at_the_written_time(
    client_for: Callable[[User], Client], make_staff: Callable[..., User], desk: Opening
) -> None:
    staff = staff_at(make_staff, desk)
    card = paper.CardId.new()
    written = yesterday_at(18, 30)
    response = client_for(staff).post(card_url(desk, card), card_data(written), follow=True)
    assert response.status_code == 200
    page = response.content.decode()
    assert "紙の記録" in page
    assert timezone.localtime(written).strftime("%Y-%m-%d %H:%M") in page
    assert "戸田 一郎" in page
    assert "戸田 花子" in page

    stays = list(Checkin.objects.filter(opening=desk).select_related("person"))
    assert len(stays) == 2
    assert {s.source for s in stays} == {"paper"}
    assert {s.checked_in_at for s in stays} == {written}
    assert {s.recorded_by for s in stays} == {staff.username}
    assert card.uuid in {s.pk for s in stays}  # the card's id: a second typing is a replay
    assert {e.at for e in CheckinEvent.objects.filter(checkin__in=stays)} == {written}
    first = next(s for s in stays if s.pk == card.uuid)
    assert first.person.birth_date == dt.date(1980, 4, 1)  # S55.4.1 as written
    assert first.person.needs == ["medication"]
    assert first.person.consent["whereabouts"] is True
    assert first.person.consent["address"] is False
    household = Household.objects.get()
    assert household.created_at > written  # typed in later: both times are kept
    desk.refresh_from_db()
    assert desk.occupancy == 2
    audited = AuditEvent.objects.filter(actor_username=staff.username, action="create")
    assert audited.filter(object_type="shelters.checkin").count() == 2
    assert audited.filter(object_type="shelters.household").count() == 1
    assert AuditEvent.objects.filter(
        actor_username=staff.username, action="read", object_type="shelters.person"
    ).exists()  # the record shown afterwards
    # The shelter's paper page lists the card, and that reading is logged too.
    listed = client_for(staff).get(f"/console/shelters/paper/openings/{desk.pk}/")
    assert card.code in listed.content.decode()
    read = AuditEvent.objects.filter(action="read", object_type="shelters.opening").last()
    assert read is not None
    assert read.detail["paper_cards"] == 1


def test_the_same_card_typed_twice_records_once(
    client_for: Callable[[User], Client], make_staff: Callable[..., User], desk: Opening
) -> None:
    client = client_for(staff_at(make_staff, desk))
    card = paper.CardId.new()
    data = card_data(yesterday_at(9, 5))
    client.post(card_url(desk, card), data)
    again = client.post(card_url(desk, card), data, follow=True)
    assert "nothing was recorded again" in again.content.decode()
    # Scanned at another desk: the record, not a blank form.
    scanned = client.get(
        f"/console/shelters/paper/openings/{desk.pk}/card/", {"card": str(card.uuid)}, follow=True
    )
    assert "紙の記録" in scanned.content.decode()
    assert Household.objects.count() == 1
    assert Checkin.objects.count() == 2
    desk.refresh_from_db()
    assert desk.occupancy == 2
    # And through the paper module directly, as two desks racing would.
    record = paper.card_record(
        card=card,
        opening=desk,
        members=[services.PersonInput(family_name="別人")],
        checked_in_at=yesterday_at(9, 5),
    )
    assert not record.created
    assert str(record.stay.person) == "戸田 一郎"


def test_two_desks_typing_the_same_card_at_once_record_it_once(
    monkeypatch: pytest.MonkeyPatch, desk: Opening
) -> None:
    card = paper.CardId.new()
    first = paper.card_record(
        card=card,
        opening=desk,
        members=[
            services.PersonInput(family_name="戸田"),
            services.PersonInput(family_name="戸田"),
        ],
        checked_in_at=yesterday_at(7, 0),
    )
    assert first.created
    # The second desk looked a moment before the first one saved: it finds nothing, writes,
    # and the card's id (the first stay's primary key) stops it; its household is undone.
    looked = iter([None])
    real_find = paper.card_find
    monkeypatch.setattr(paper, "card_find", lambda c: next(looked, None) or real_find(c))
    second = paper.card_record(
        card=card,
        opening=desk,
        members=[services.PersonInput(family_name="二重")],
        checked_in_at=yesterday_at(7, 0),
    )
    assert not second.created
    assert second.stay.pk == first.stay.pk
    assert Household.objects.count() == 1
    assert Checkin.objects.count() == 2
    assert not Person.objects.filter(family_name="二重").exists()
    desk.refresh_from_db()
    assert desk.occupancy == 2


def test_a_card_written_with_a_check_out_time_ends_the_stays_then(
    client_for: Callable[[User], Client], make_staff: Callable[..., User], desk: Opening
) -> None:
    card = paper.CardId.new()
    left = yesterday_at(21, 0)
    data = card_data(yesterday_at(18, 30), checked_out_at=left.strftime("%Y/%m/%d %H:%M"))
    client_for(staff_at(make_staff, desk)).post(card_url(desk, card), data)
    assert {s.checked_out_at for s in Checkin.objects.all()} == {left}
    desk.refresh_from_db()
    assert desk.occupancy == 0


@pytest.mark.parametrize(
    ("changes", "field", "words"),
    [
        ({"checked_in_at": ""}, "checked_in_at", "Enter the check-in date and time"),
        ({"checked_in_at": "12 October"}, "checked_in_at", "year-month-day hour:minute"),
        ("future", "checked_in_at", "in the future"),
        ("before", "checked_in_at", "before the disaster started"),
        ("out_first", "checked_out_at", "before the check-in time"),
        ({"members-0-family_name": ""}, "family_name", "Enter the family name"),
        ({"members-0-birth_date": "S99.13.1"}, "birth_date", "year-month-day"),
    ],
)
def test_bad_entries_are_named_on_their_field_and_nothing_is_recorded(
    client_for: Callable[[User], Client],
    make_staff: Callable[..., User],
    desk: Opening,
    storm: Disaster,
    changes: Any,
    field: str,
    words: str,
) -> None:
    written = yesterday_at(18, 30)
    if changes == "future":
        changes = {
            "checked_in_at": (timezone.localtime() + dt.timedelta(hours=2)).strftime(
                "%Y-%m-%dT%H:%M"
            )
        }
    elif changes == "before":
        early = timezone.localtime(storm.started_at) - dt.timedelta(hours=1)
        changes = {"checked_in_at": early.strftime("%Y-%m-%dT%H:%M")}
    elif changes == "out_first":
        changes = {"checked_out_at": (written - dt.timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M")}
    response = client_for(staff_at(make_staff, desk)).post(
        card_url(desk, paper.CardId.new()), card_data(written, **changes)
    )
    assert response.status_code == 400
    household = response.context["household_form"]
    first = response.context["members"].forms[0]
    errors = household.errors.get(field) or first.errors.get(field)
    assert errors, (household.errors, first.errors)
    assert words in " ".join(errors)
    assert words in response.content.decode()  # in the summary at the top and by the field
    assert not Checkin.objects.exists()
    assert not Household.objects.exists()


def test_the_written_time_may_be_the_minute_the_disaster_started(desk: Opening) -> None:
    started = desk.disaster.started_at.replace(second=0, microsecond=0)
    assert (
        paper.times_problems(disaster=desk.disaster, checked_in_at=started, checked_out_at=None)
        == {}
    )


def test_dates_of_birth_as_written_on_cards() -> None:
    field = BirthDateField(required=False)
    assert field.clean("S55.4.1") == dt.date(1980, 4, 1)
    assert field.clean("昭和55年4月1日") == dt.date(1980, 4, 1)
    assert field.clean("令和元年5月1日") == dt.date(2019, 5, 1)
    assert field.clean("Ｈ１２．３．４") == dt.date(2000, 3, 4)
    assert field.clean("1980/4/1") == dt.date(1980, 4, 1)


# --- The shelter's paper page and who may use it -------------------------------------------------


def test_the_desk_prints_blank_forms_without_an_audit_entry(
    client_for: Callable[[User], Client], make_staff: Callable[..., User], desk: Opening
) -> None:
    client = client_for(staff_at(make_staff, desk))
    page = client.get(f"/console/shelters/paper/openings/{desk.pk}/")
    assert page.status_code == 200
    before = AuditEvent.objects.count()
    cards = client.get(f"/console/shelters/paper/openings/{desk.pk}/cards.pdf", {"count": 3})
    assert cards.status_code == 200
    assert cards["Content-Type"] == "application/pdf"
    assert cards["Cache-Control"] == "no-store"  # a cached copy would repeat the numbers
    assert pages(cards.content) == 3
    again = client.get(f"/console/shelters/paper/openings/{desk.pk}/cards.pdf", {"count": 3})
    assert not set(map(frozenset, qr_codes(cards.content))) & set(
        map(frozenset, qr_codes(again.content))
    )  # new numbers each time
    roster = client.get(f"/console/shelters/paper/openings/{desk.pk}/roster.pdf", {"pages": 2})
    assert pages(roster.content) == 2
    assert AuditEvent.objects.count() == before
    too_many = client.get(f"/console/shelters/paper/openings/{desk.pk}/cards.pdf", {"count": 0})
    assert too_many.status_code == 400
    assert "Number of blank cards" in too_many.content.decode()


def test_a_card_number_opens_its_form_and_a_wrong_one_is_named(
    client_for: Callable[[User], Client], make_staff: Callable[..., User], desk: Opening
) -> None:
    client = client_for(staff_at(make_staff, desk))
    card = paper.CardId.new()
    found = client.get(f"/console/shelters/paper/openings/{desk.pk}/card/", {"card": card.code})
    assert found.status_code == 302
    assert found["Location"] == card_url(desk, card)
    form = client.get(card_url(desk, card))
    assert form.status_code == 200
    assert card.code in form.content.decode()
    wrong = card.code[:-1] + ("0" if card.code[-1] != "0" else "1")
    refused = client.get(f"/console/shelters/paper/openings/{desk.pk}/card/", {"card": wrong})
    assert refused.status_code == 400
    assert "not the number of a Machi card" in refused.content.decode()
    assert (
        client.get(f"/console/shelters/paper/openings/{desk.pk}/cards/{uuid.uuid4()}/").status_code
        == 404
    )
    new = client.post(f"/console/shelters/paper/openings/{desk.pk}/card/new/")
    assert new.status_code == 302
    assert paper.CardId.parse(new["Location"].rstrip("/").rsplit("/", 1)[-1]) is not None


def test_only_who_runs_the_shelter_prints_and_types_in(
    client_for: Callable[[User], Client],
    make_staff: Callable[..., User],
    hq: User,
    counter: User,
    desk: Opening,
    open_shelters: list[Opening],
) -> None:
    other = staff_at(make_staff, open_shelters[0], name="elsewhere")
    card = paper.CardId.new()
    base = f"/console/shelters/paper/openings/{desk.pk}/"
    for user in (other, counter):
        client = client_for(user)
        for url in (
            base,
            f"{base}cards.pdf?count=1",
            f"{base}roster.pdf?pages=1",
            card_url(desk, card),
        ):
            assert client.get(url).status_code == 403, (user, url)
        assert client.post(card_url(desk, card), card_data(yesterday_at(8, 0))).status_code == 403
    assert not Checkin.objects.exists()
    # HQ types in for any shelter.
    response = client_for(hq).post(card_url(desk, card), card_data(yesterday_at(8, 0)))
    assert response.status_code == 302
    assert Checkin.objects.filter(opening=desk, source="paper").count() == 2


def test_a_card_typed_in_at_another_shelter_is_not_shown_to_this_one(
    client_for: Callable[[User], Client],
    make_staff: Callable[..., User],
    desk: Opening,
    open_shelters: list[Opening],
) -> None:
    card = paper.CardId.new()
    client_for(staff_at(make_staff, desk)).post(card_url(desk, card), card_data(yesterday_at(8, 0)))
    there = open_shelters[0]
    response = client_for(staff_at(make_staff, there, name="there")).get(
        card_url(there, card), follow=True
    )
    page = response.content.decode()
    assert "typed in at another shelter" in page
    assert "一郎" not in page
    assert "花子" not in page
    assert Checkin.objects.count() == 2


def test_a_shelter_not_open_takes_no_card(
    client_for: Callable[[User], Client], make_staff: Callable[..., User], desk: Opening
) -> None:
    services.opening_close(opening=desk)
    client = client_for(staff_at(make_staff, desk))
    response = client.post(
        card_url(desk, paper.CardId.new()), card_data(yesterday_at(8, 0)), follow=True
    )
    assert "typed in while the shelter is open" in response.content.decode()
    assert not Checkin.objects.exists()
    assert (
        client.get(f"/console/shelters/paper/openings/{desk.pk}/cards.pdf?count=1").status_code
        == 200
    )
