"""The shelter registry importer: formats, encodings, codes, capacity, atomicity, matching."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import include, path
from django.utils import translation
from hypothesis import given
from hypothesis import strategies as st

from machi.config import urls as project_urls
from machi.core.hazards import Hazard
from machi.core.models import AuditEvent, Facility, Municipality, User
from machi.shelters import importers, views_import
from machi.shelters import urls as shelter_urls
from machi.shelters.importers import (
    Capacity,
    CapacityError,
    Container,
    ImportRefused,
    Layout,
    parse_capacity,
    shelters_import,
)
from machi.shelters.models import Accessibility, Shelter
from tests.core.factories import MunicipalityFactory


@pytest.fixture(autouse=True)
def _english_messages() -> Iterator[None]:
    """The assertions read the English messages; the site itself defaults to Japanese."""
    with translation.override("en"):
        yield


DATA = Path(__file__).parent / "data"
SAITAMA = Path("/work/shared/data/shelters/gsi_saitama")


def _routes_with_the_import_page() -> list[Any]:
    """The project's routes, with console/shelters/import/ ("shelters:import") added if the
    shelters room does not route it yet."""
    extra = []
    if all(getattr(route, "name", None) != "import" for route in shelter_urls.urlpatterns):
        extra = [path("import/", views_import.shelter_import, name="import")]
    shelters = path("console/shelters/", include(([*extra, *shelter_urls.urlpatterns], "shelters")))
    others = [r for r in project_urls.urlpatterns if str(r.pattern) != "console/shelters/"]
    return [shelters, *others]


urlpatterns = _routes_with_the_import_page()
handler403 = project_urls.handler403
IMPORT_URL = "/console/shelters/import/"


def read(name: str) -> bytes:
    return (DATA / name).read_bytes()


def text_of(name: str) -> str:
    data = read(name)
    for encoding in ("utf-8-sig", "cp932"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise AssertionError(name)


def run(data: bytes, name: str = "upload.csv", **kwargs: Any) -> importers.ImportSummary:
    return shelters_import(data=data, file_name=name, **kwargs)


def refused(data: bytes) -> ImportRefused:
    with pytest.raises(ImportRefused) as caught:
        run(data)
    return caught.value


def where(problems: list[importers.Problem]) -> list[tuple[int | None, str]]:
    return [(problem.row, problem.column) for problem in problems]


@pytest.fixture
def nanao(db: None) -> Municipality:
    return MunicipalityFactory(
        lgcode="172022", name="七尾市", name_kana="ななおし", prefecture="石川県"
    )


@pytest.fixture
def yaizu(db: None) -> Municipality:
    return MunicipalityFactory(
        lgcode="222127", name="焼津市", name_kana="やいづし", prefecture="静岡県"
    )


@pytest.fixture
def warabi(db: None) -> Municipality:
    return MunicipalityFactory(
        lgcode="112232", name="蕨市", name_kana="わらびし", prefecture="埼玉県"
    )


def shelter(name: str) -> Shelter:
    return Shelter.objects.select_related("facility").get(facility__name=name)


# --- Capacity -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "day", "night"),
    [
        ("屋内191人／屋外0人", 191, 191),
        ("屋内191人／屋外0人(面積の1/2)", 191, 191),
        ("屋内1,371人／屋外5,470人（面積の1/2）", 6841, 1371),
        ("屋内2,736人屋外11,700人（面積の1/2）", 14436, 2736),
        ("屋内0人／屋外9,700人(面積の1/2)", 9700, 0),
        ("屋内90人／屋外1570人(面積の1/2)", 1660, 90),
        ("屋内990人／屋外0人(座席数)", 990, 990),
        ("屋外500人", 500, None),
        ("昼間300人、夜間120人", 300, 120),
        ("宿泊80人", None, 80),
        ("200", 200, 200),
        ("200人", 200, 200),
        ("200名", 200, 200),
        ("約200人", 200, 200),
        ("２００人", 200, 200),
        ("１，３７１人", 1371, 1371),
        ("1.5万人", 15000, 15000),
        ("200.0", 200, 200),
        ("", None, None),
        ("  ", None, None),
        ("-", None, None),
        ("なし", None, None),
        ("不明", None, None),
        ("200～300人", None, None),
        ("200-300人", None, None),
        ("体育館の半分", None, None),
        ("12.5人", None, None),
    ],
)
def test_capacity_is_read_from_free_text(text: str, day: int | None, night: int | None) -> None:
    assert parse_capacity(text) == Capacity(day=day, night=night)


@pytest.mark.parametrize("text", ["-5人", "屋内-5人／屋外0人", "－２００", "2,000,000人", "9" * 40])
def test_negative_or_absurd_capacity_is_an_error(text: str) -> None:
    with pytest.raises(CapacityError):
        parse_capacity(text)


@given(st.text())
def test_capacity_parsing_never_crashes(text: str) -> None:
    try:
        capacity = parse_capacity(text)
    except CapacityError:
        return
    for value in (capacity.day, capacity.night):
        assert value is None or 0 <= value <= importers.MAX_CAPACITY


@given(st.integers(min_value=0, max_value=99_999), st.integers(min_value=0, max_value=99_999))
def test_indoor_is_night_and_indoor_plus_outdoor_is_day(indoor: int, outdoor: int) -> None:
    assert parse_capacity(f"屋内{indoor:,}人／屋外{outdoor:,}人") == Capacity(
        day=indoor + outdoor, night=indoor
    )


@pytest.mark.parametrize(
    ("value", "expected"),
    [("1", True), ("1.0", True), ("○", True), ("◯", True), ("〇", True), ("true", True),
     ("TRUE", True), ("", False), ("0", False), (" ", False), ("maybe", None)],
)  # fmt: skip
def test_flags(value: str, expected: bool | None) -> None:
    assert importers.parse_flag(value) is expected


# --- Format detection -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "container", "layout", "encoding"),
    [
        ("gsi_112241_shelters.geojson", Container.GEOJSON, Layout.GSI_SHELTERS, "utf-8"),
        ("gsi_112241_sites.geojson", Container.GEOJSON, Layout.GSI_SITES, "utf-8"),
        ("gsi_112241_shelters.csv", Container.CSV, Layout.GSI_SHELTERS, "utf-8"),
        ("gsi_112241_sites.csv", Container.CSV, Layout.GSI_SITES, "utf-8"),
        ("dataset03_nanao_172022.csv", Container.CSV, Layout.DATASET03, "utf-8"),
        ("dataset03_toda_112241_constructed.csv", Container.CSV, Layout.DATASET03, "utf-8"),
        ("dataset03_old_yaizu_222127_cp932.csv", Container.CSV, Layout.DATASET03_OLD, "cp932"),
        ("city_shelters_yaizu_222127_bom.csv", Container.CSV, Layout.CITY_SHELTERS, "utf-8-sig"),
    ],
)
def test_the_format_is_detected_from_the_content(
    name: str, container: Container, layout: Layout, encoding: str
) -> None:
    assert importers.detect_format(read(name)) == importers.Detected(container, layout, encoding)


def test_an_unknown_file_is_refused_with_its_columns(municipality: Municipality) -> None:
    problems = refused("種別,設置場所\nAED,市役所\n".encode()).problems
    assert where(problems) == [(None, "")]
    assert "種別, 設置場所" in problems[0].message


def test_a_file_like_dataset_03_names_every_missing_column(municipality: Municipality) -> None:
    data = "ID,名称,所在地_連結表記,緯度,経度\n1,市役所,埼玉県戸田市上戸田1-18-1,35.8,139.6\n"
    problems = refused(data.encode()).problems
    missing = [problem.column for problem in problems]
    assert "災害種別_洪水" in missing
    assert "全国地方公共団体コード / 所在地_全国地方公共団体コード / 市区町村コード" in missing
    assert all(problem.row is None for problem in problems)
    assert not Facility.objects.exists()


def test_json_that_is_not_a_feature_collection_is_refused(municipality: Municipality) -> None:
    stub = '{"type": "unavailable", "code": "111015", "message": "公開されていません。"}'
    assert "FeatureCollection" in refused(stub.encode()).problems[0].message
    assert "JSON" in refused(b"{not json").problems[0].message


def test_an_empty_file_is_refused(municipality: Municipality) -> None:
    header_only = read("gsi_112241_shelters.csv").splitlines()[0] + b"\n"
    assert "no rows" in refused(header_only).problems[0].message


# --- Every format, every encoding -----------------------------------------------------------


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "cp932"])
@pytest.mark.parametrize(
    ("name", "city", "rows"),
    [
        ("gsi_112241_shelters.csv", "toda", 8),
        ("gsi_112241_sites.csv", "toda", 8),
        ("gsi_112241_shelters.geojson", "toda", 5),
        ("dataset03_toda_112241_constructed.csv", "toda", 3),
        ("dataset03_nanao_172022.csv", "nanao", 5),
        ("dataset03_old_yaizu_222127_cp932.csv", "yaizu", 5),
        ("city_shelters_yaizu_222127_bom.csv", "yaizu", 5),
    ],
)
def test_every_format_imports_in_every_encoding(
    request: pytest.FixtureRequest, encoding: str, name: str, city: str, rows: int
) -> None:
    request.getfixturevalue({"toda": "municipality"}.get(city, city))
    summary = run(text_of(name).encode(encoding), name)
    assert (summary.encoding, summary.rows, summary.updated) == (encoding, rows, 0)
    assert Shelter.objects.count() == summary.created == rows


def test_gsi_shelters_carry_welfare_flags_ids_and_areas(municipality: Municipality) -> None:
    summary = run(read("gsi_112241_shelters.geojson"), "112241.json")
    assert summary.format_label == f"{Layout.GSI_SHELTERS.label}, GeoJSON"
    assert (summary.rows, summary.created) == (5, 5)
    welfare = shelter("戸田市笹目コミュニティセンター")
    assert welfare.facility.is_shelter
    assert welfare.facility.is_welfare_shelter
    assert not welfare.facility.is_evacuation_site
    assert welfare.gsi_shelter_id == "E1122400008121"
    assert welfare.accessibility == [Accessibility.WELFARE_SPACE]
    assert "受入対象者: 要配慮者のうち市が特定した者" in welfare.notes
    school = shelter("戸田東小学校")
    assert not school.facility.is_welfare_shelter
    assert school.facility.area is not None
    assert school.facility.area.name == "下戸田"
    assert school.facility.latitude == Decimal("35.813926")
    assert school.facility.code == "E1122400001112"
    # 埼玉県戸田市大字上戸田5-6: the 町字 is 上戸田, without 大字.
    assert shelter("戸田市福祉保健センター").facility.area.name == "上戸田"  # type: ignore[union-attr]


def test_gsi_sites_carry_hazards(municipality: Municipality) -> None:
    run(read("gsi_112241_sites.csv"))
    yard = shelter("戸田東中学校 校庭")
    assert yard.facility.is_evacuation_site
    assert not yard.facility.is_shelter
    assert yard.hazards == [Hazard.EARTHQUAKE, Hazard.LARGE_FIRE, Hazard.VOLCANO]
    assert yard.gsi_site_id == "E1122400001201"
    floors = shelter("戸田東中学校 校舎(3階・4階)")
    assert floors.hazards == [Hazard.FLOOD, Hazard.INLAND_FLOOD]


def test_dataset_03_current_layout(municipality: Municipality) -> None:
    run(read("dataset03_toda_112241_constructed.csv"))
    school = shelter("戸田東小学校")
    assert school.dataset_id == "0001"  # leading zeros kept
    assert school.facility.code == "0001"
    assert school.facility.name_kana == "トダヒガシショウガッコウ"
    assert school.facility.name_en == "Toda Higashi Elementary School"
    assert school.facility.is_evacuation_site
    assert school.facility.is_shelter
    assert (school.capacity_night, school.capacity_day) == (450, 1650)
    assert school.capacity_text == "屋内450人／屋外1,200人"
    assert school.phone == "048-000-0001 内線12"
    assert school.email == "bousai@example.jp"
    assert school.url == "https://www.example.jp/shelters/0001"
    assert school.target_areas == "下戸田一丁目町会;下戸田二丁目町会"
    assert school.hazards == [Hazard.FLOOD, Hazard.EARTHQUAKE, Hazard.INLAND_FLOOD]
    park = shelter("戸田公園高台広場")
    assert not park.facility.is_shelter
    assert (park.capacity_day, park.capacity_night) == (3000, 3000)
    welfare = shelter("新曽福祉センター(福祉避難所)")
    assert welfare.facility.is_welfare_shelter
    assert welfare.facility.is_shelter
    assert welfare.hazards == [Hazard.FLOOD, Hazard.EARTHQUAKE]
    assert (welfare.capacity_day, welfare.capacity_text) == (200, "約２００人")
    assert welfare.facility.area.name == "新曽"  # type: ignore[union-attr]


def test_nanao_variant_without_the_code_column(nanao: Municipality) -> None:
    summary = run(read("dataset03_nanao_172022.csv"))
    assert (summary.layout, summary.rows, summary.created) == (Layout.DATASET03, 5, 5)
    hall = shelter("御祓地区コミュニティセンター")
    assert hall.dataset_id == "CC0000000504"
    assert (hall.capacity_day, hall.capacity_night) == (191, 191)
    assert hall.capacity_text == "屋内191人／屋外0人(面積の1/2)"
    assert hall.hazards == [
        Hazard.FLOOD,
        Hazard.LANDSLIDE,
        Hazard.STORM_SURGE,
        Hazard.EARTHQUAKE,
        Hazard.TSUNAMI,
        Hazard.INLAND_FLOOD,
    ]
    assert hall.facility.address == "石川県七尾市一本杉町124"
    assert hall.facility.area.name == "一本杉町"  # type: ignore[union-attr]
    ground = shelter("能登島グラウンド")
    assert (ground.capacity_day, ground.capacity_night) == (11174, 0)


def test_yaizu_old_layout_with_circles(yaizu: Municipality) -> None:
    summary = run(read("dataset03_old_yaizu_222127_cp932.csv"))
    assert (summary.layout, summary.encoding, summary.created) == (Layout.DATASET03_OLD, "cp932", 5)
    tower = shelter("中港タワー")
    assert tower.hazards == [Hazard.EARTHQUAKE, Hazard.TSUNAMI]
    assert tower.facility.is_evacuation_site
    assert not tower.facility.is_shelter
    assert tower.facility.code.startswith("place-")  # the old layout has no ID
    assert tower.phone == "(054)625-0128"
    both = shelter("浜当目コミュニティ防災センター")
    assert both.facility.is_shelter
    assert both.hazards == [Hazard.LANDSLIDE]


def test_yaizu_city_shelter_list(yaizu: Municipality) -> None:
    summary = run(read("city_shelters_yaizu_222127_bom.csv"))
    assert (summary.layout, summary.encoding, summary.created) == (
        Layout.CITY_SHELTERS,
        "utf-8-sig",
        5,
    )
    center = shelter("二区コミュニティ防災センター")
    assert center.facility.is_shelter
    assert not center.facility.is_evacuation_site
    assert center.hazards == [
        Hazard.FLOOD,
        Hazard.STORM_SURGE,
        Hazard.EARTHQUAKE,
        Hazard.TSUNAMI,
        Hazard.INLAND_FLOOD,
    ]
    assert "避難所面積平方メートル: 475" in center.notes
    assert shelter("利右衛門地区コミュニティ防災センター").phone == ""  # ー: none
    school = shelter("東益津小学校")
    assert Hazard.LANDSLIDE in school.hazards
    assert "開設される災害の種類(南海トラフ地震臨時情報)" in school.notes


def test_optional_accessibility_columns(yaizu: Municipality) -> None:
    rows = list(csv.reader(io.StringIO(text_of("city_shelters_yaizu_222127_bom.csv"))))
    rows[0] += ["エレベーター", "多目的トイレ", "授乳室"]
    rows[1] += ["○", "1", "2室"]  # a count is not a yes/no: left out, not an error
    for row in rows[2:]:
        row += ["", "", ""]
    buffer = io.StringIO()
    csv.writer(buffer).writerows(rows)
    run(buffer.getvalue().encode())
    assert shelter("二区コミュニティ防災センター").accessibility == [
        Accessibility.ACCESSIBLE_TOILET,
        Accessibility.ELEVATOR,
    ]
    assert shelter("三区コミュニティ防災センター").accessibility == []


YAIZU_FILES = ("dataset03_old_yaizu_222127_cp932.csv", "city_shelters_yaizu_222127_bom.csv")


@pytest.mark.parametrize("order", [YAIZU_FILES, YAIZU_FILES[::-1]])
def test_the_same_building_in_a_city_list_and_dataset_03_is_one_shelter(
    yaizu: Municipality, order: tuple[str, str]
) -> None:
    for name in order:
        run(read(name))
    # 焼津市浜当目3-1-45 and 静岡県焼津市浜当目3-1-45 are the same address.
    assert Facility.objects.filter(name="浜当目コミュニティ防災センター").count() == 1
    both = shelter("浜当目コミュニティ防災センター")
    assert both.facility.is_shelter
    assert both.facility.is_evacuation_site
    assert Shelter.objects.count() == 5 + 5 - 1
    # The 避難所 list describes the building, whichever came first; the other list adds to it.
    assert both.facility.source == "市町村 避難所一覧"
    assert both.facility.address == "静岡県焼津市浜当目3-1-45"
    assert both.facility.longitude == Decimal("138.331272")
    assert both.hazards == [
        Hazard.FLOOD,
        Hazard.LANDSLIDE,
        Hazard.STORM_SURGE,
        Hazard.EARTHQUAKE,
        Hazard.TSUNAMI,
        Hazard.INLAND_FLOOD,
    ]
    for name in order:
        again = run(read(name))
        assert (again.created, again.updated) == (0, 0)


# --- Codes and places -----------------------------------------------------------------------


def test_a_five_digit_code_gains_its_leading_zero(db: None) -> None:
    MunicipalityFactory(lgcode="011002", name="札幌市", name_kana="さっぽろし", prefecture="北海道")
    header = text_of("dataset03_old_yaizu_222127_cp932.csv").splitlines()[0]
    row = (
        "1,大通公園,オオドオリコウエン,札幌市中央区大通西7,,43.0594,141.3479,,,,11002,北海道,札幌市"
    )
    data = f"{header}\n{row},,,,1,,1,,,,,,,\n".encode()
    assert run(data).created == 1
    assert shelter("大通公園").hazards == [Hazard.EARTHQUAKE, Hazard.LARGE_FIRE]


def test_a_ward_of_the_city_is_the_city(db: None) -> None:
    MunicipalityFactory(lgcode="111007", name="さいたま市", name_kana="", prefecture="埼玉県")
    header = text_of("dataset03_old_yaizu_222127_cp932.csv").splitlines()[0]
    row = "1,西区役所,,さいたま市西区西遊馬533-1,,35.925,139.5797,,,,111015,埼玉県,さいたま市西区"
    assert run(f"{header}\n{row},,,,1,,,,,,,,,\n".encode()).created == 1


def test_a_file_of_another_municipality_is_refused_once_per_code(
    municipality: Municipality,
) -> None:
    problems = refused(read("dataset03_nanao_172022.csv")).problems
    assert where(problems) == [(2, "所在地_全国地方公共団体コード")]
    assert "石川県七尾市" in problems[0].message
    assert "戸田市" in problems[0].message
    assert not Shelter.objects.exists()
    assert not Facility.objects.exists()


def test_a_gsi_file_of_another_municipality_is_refused(municipality: Municipality) -> None:
    problems = refused(read("gsi_112232_shelters.geojson")).problems
    assert where(problems) == [(1, "都道府県名及び市町村名")]
    assert "埼玉県蕨市" in problems[0].message


def test_the_gsi_place_may_leave_out_the_prefecture(municipality: Municipality) -> None:
    data = edited("gsi_112241_shelters.csv", {(2, "都道府県名及び市町村名"): "戸田市"})
    assert run(data).created == 8


def test_a_code_with_a_wrong_check_digit_is_an_error(municipality: Municipality) -> None:
    data = text_of("dataset03_toda_112241_constructed.csv").replace(
        "\r\n112241,0002", "\r\n112242,0002"
    )
    problems = refused(data.encode()).problems
    assert where(problems) == [(3, "全国地方公共団体コード")]
    assert "check digit" in problems[0].message


def test_no_municipality_no_import(db: None) -> None:
    assert "machi init" in refused(read("gsi_112241_shelters.csv")).problems[0].message


# --- Bad rows: nothing is imported, every problem is named ------------------------------------


def lines_of(name: str) -> list[str]:
    return text_of(name).splitlines()


def edited(name: str, changes: dict[tuple[int, str], str]) -> bytes:
    """The file with some cells changed, by (line, column); no cell spans lines in our files."""
    rows = list(csv.reader(io.StringIO(text_of(name))))
    header = rows[0]
    for (line, column), value in changes.items():
        rows[line - 1][header.index(column)] = value
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows(rows)
    return buffer.getvalue().encode()


def with_cell(name: str, line: int, column: str, value: str) -> bytes:
    return edited(name, {(line, column): value})


def test_a_bad_latitude_names_line_and_column_and_imports_nothing(
    municipality: Municipality,
) -> None:
    problems = refused(with_cell("gsi_112241_shelters.csv", 7, "緯度", "abc")).problems
    assert where(problems) == [(7, "緯度")]
    assert "abc" in problems[0].message
    assert not Shelter.objects.exists()
    assert not Facility.objects.exists()
    assert not AuditEvent.objects.filter(object_type="shelters.shelter").exists()


def test_every_problem_is_listed_not_only_the_first(municipality: Municipality) -> None:
    data = edited(
        "gsi_112241_sites.csv",
        {
            (3, "緯度"): "95.0",
            (5, "内水氾濫"): "yes please",
            (7, "共通ID"): "E1122400001201",  # the 共通ID of line 2
        },
    )
    problems = refused(data).problems
    assert where(problems) == [(3, "緯度"), (5, "内水氾濫"), (7, "共通ID")]
    assert "outside Japan" in problems[0].message
    assert "first on row 2" in problems[2].message


def test_swapped_coordinates_are_named(municipality: Municipality) -> None:
    data = edited("gsi_112241_shelters.csv", {(2, "緯度"): "139.687147", (2, "経度"): "35.813926"})
    assert where(refused(data).problems) == [(2, "緯度")]
    assert "swapped" in refused(data).problems[0].message


@pytest.mark.parametrize(
    ("column", "value", "words"),
    [
        ("想定収容人数", "-20人", "negative"),
        ("想定収容人数", "3,000,000人", "plausible"),
        ("連絡先メールアドレス", "bousai at example", "e-mail"),
        ("URL", "www example", "web address"),
        ("名称", "", "empty"),
        ("経度", "", "empty"),
        ("名称", "長" * 200, "longer than 128"),
    ],
)
def test_bad_cells_of_dataset_03(
    municipality: Municipality, column: str, value: str, words: str
) -> None:
    problems = refused(
        with_cell("dataset03_toda_112241_constructed.csv", 3, column, value)
    ).problems
    assert where(problems) == [(3, column)]
    assert words in problems[0].message


def test_a_geojson_feature_without_a_point_names_its_number(municipality: Municipality) -> None:
    data = read("gsi_112241_shelters.geojson").replace(b'"Point"', b'"LineString"', 1)
    problems = refused(data).problems
    assert where(problems) == [(1, "geometry")]


def test_problems_are_capped(municipality: Municipality) -> None:
    lines = lines_of("gsi_112241_shelters.csv")
    bad = [line.replace("35.8", "x35.8") for line in lines[1:]]
    rows = [
        bad[i % len(bad)].replace("E11224", f"E{i:05d}", 1)
        for i in range(importers.MAX_PROBLEMS + 9)
    ]
    error = refused(("\n".join([lines[0], *rows]) + "\n").encode())
    assert len(error.problems) == importers.MAX_PROBLEMS
    assert error.truncated


# --- Re-import, matching, merging -----------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "city"),
    [
        ("gsi_112241_shelters.geojson", "municipality"),
        ("gsi_112241_sites.csv", "municipality"),
        ("dataset03_toda_112241_constructed.csv", "municipality"),
        ("dataset03_nanao_172022.csv", "nanao"),
        ("dataset03_old_yaizu_222127_cp932.csv", "yaizu"),
        ("city_shelters_yaizu_222127_bom.csv", "yaizu"),
    ],
)
def test_importing_a_file_again_changes_nothing(
    request: pytest.FixtureRequest, name: str, city: str
) -> None:
    request.getfixturevalue(city)
    first = run(read(name), name)
    facilities = list(Facility.objects.order_by("pk").values())
    shelters = list(Shelter.objects.order_by("pk").values())
    again = run(read(name), name)
    assert (again.created, again.updated, again.unchanged) == (0, 0, first.created)
    assert list(Facility.objects.order_by("pk").values()) == facilities
    assert list(Shelter.objects.order_by("pk").values()) == shelters


def test_one_audit_event_per_import(municipality: Municipality, hq: User) -> None:
    run(read("gsi_112241_shelters.geojson"), "112241.json", actor=hq)
    run(read("gsi_112241_shelters.geojson"), "112241.json", actor=hq)
    events = list(AuditEvent.objects.filter(object_type="shelters.shelter").order_by("id"))
    assert [event.action for event in events] == ["create", "update"]
    assert events[0].actor_username == "hq"
    assert events[0].detail == {
        "file": "112241.json",
        "format": "gsi_shelters",
        "container": "geojson",
        "encoding": "utf-8",
        "rows": 5,
        "created": 5,
        "updated": 0,
        "unchanged": 0,
    }
    assert events[1].detail["unchanged"] == 5


@pytest.mark.parametrize("order", [("shelters", "sites"), ("sites", "shelters")])
def test_both_gsi_lists_of_one_building_make_one_shelter(
    warabi: Municipality, order: tuple[str, str]
) -> None:
    for which in order:
        run(read(f"gsi_112232_{which}.geojson"))
    # 4 shelters + 4 sites, three buildings in both lists.
    assert Shelter.objects.count() == Facility.objects.count() == 5
    hall = shelter("松原会館")
    assert hall.facility.is_shelter
    assert hall.facility.is_evacuation_site
    assert (hall.gsi_shelter_id, hall.gsi_site_id) == ("E1122300005111", "E1122300005201")
    assert hall.hazards == [Hazard.EARTHQUAKE, Hazard.INLAND_FLOOD]
    # The building's position is the 指定避難所 list's, whichever list came first.
    assert (hall.facility.latitude, hall.facility.longitude) == (
        Decimal("35.827809"),
        Decimal("139.673730"),
    )
    # 西公民館 shares 松原会館's address but is another building.
    assert shelter("西公民館").gsi_site_id == "E1122300005202"
    for which in order:
        again = run(read(f"gsi_112232_{which}.geojson"))
        assert (again.created, again.updated, again.unchanged) == (0, 0, 4)


def test_rows_about_one_building_in_one_file_are_merged(municipality: Municipality) -> None:
    """越谷市 lists some centres twice: once as 指定避難所, once as 福祉避難所."""
    lines = lines_of("gsi_112241_shelters.csv")
    twin = lines[1].replace("E1122400001112", "E1122400001122").replace(",1,,,", ",1,,要配慮者,")
    data = ("\n".join([*lines[:2], twin]) + "\n").encode()
    summary = run(data)
    assert (summary.rows, summary.created) == (2, 1)
    school = shelter("戸田東小学校")
    assert school.facility.is_welfare_shelter
    assert school.gsi_shelter_id == "E1122400001112"
    assert (run(data).unchanged, Shelter.objects.count()) == (1, 1)


def test_dataset_03_and_gsi_meet_at_the_same_address(municipality: Municipality) -> None:
    run(read("gsi_112241_shelters.geojson"))
    summary = run(read("dataset03_toda_112241_constructed.csv"))
    # 下戸田1丁目11番15号 is 下戸田1-11-15; 大字新曽1395 has no GSI shelter of that name here.
    assert (summary.created, summary.updated) == (2, 1)
    school = shelter("戸田東小学校")
    assert (school.gsi_shelter_id, school.dataset_id) == ("E1122400001112", "0001")
    assert school.facility.code == "E1122400001112"
    assert school.capacity_night == 450
    assert school.facility.is_evacuation_site
    # The GSI 指定避難所 list keeps describing the building; dataset 03 fills in what it lacked.
    assert school.facility.address == "埼玉県戸田市下戸田1-11-15"
    assert school.facility.name_kana == "トダヒガシショウガッコウ"
    assert school.phone == "048-000-0001 内線12"
    for name in ("gsi_112241_shelters.geojson", "dataset03_toda_112241_constructed.csv"):
        again = run(read(name))
        assert (again.created, again.updated) == (0, 0)


def test_a_blank_cell_keeps_what_machi_knows_but_a_dropped_hazard_goes(
    municipality: Municipality,
) -> None:
    name = "dataset03_toda_112241_constructed.csv"
    run(read(name))
    summary = run(edited(name, {(2, "電話番号"): "", (2, "災害種別_内水氾濫"): ""}))
    assert (summary.updated, summary.unchanged) == (1, 2)
    school = shelter("戸田東小学校")
    assert school.phone == "048-000-0001 内線12"
    assert school.hazards == [Hazard.FLOOD, Hazard.EARTHQUAKE]


def test_a_dry_run_counts_but_saves_nothing(municipality: Municipality) -> None:
    summary = run(read("gsi_112241_sites.geojson"), dry_run=True)
    assert (summary.dry_run, summary.created) == (True, 5)
    assert not Shelter.objects.exists()
    assert not Facility.objects.exists()
    assert not AuditEvent.objects.filter(object_type="shelters.shelter").exists()


def test_the_demo_city_facilities_gain_shelters_without_duplicates(db: None) -> None:
    from machi.core.demo import load_demo_city

    city = load_demo_city()
    summary = run(read("gsi_112241_shelters.geojson"))
    assert summary.created == 5
    assert Facility.objects.count() == city.facilities


# --- The upload page --------------------------------------------------------------------------


def upload(name: str, data: bytes | None = None) -> SimpleUploadedFile:
    return SimpleUploadedFile(name, data if data is not None else read(name))


@pytest.mark.urls(__name__)
def test_hq_uploads_a_file_and_sees_the_summary(
    client: Client, municipality: Municipality, hq: User
) -> None:
    client.force_login(hq)
    page = client.get(IMPORT_URL)
    assert page.status_code == 200
    html = page.content.decode()
    assert 'enctype="multipart/form-data"' in html
    assert '<label for="id_file">' in html
    assert "<script>" not in html
    assert " style=" not in html
    response = client.post(IMPORT_URL, {"file": upload("gsi_112241_sites.geojson")})
    assert response.status_code == 200
    summary = response.context["summary"]
    assert (summary.rows, summary.created) == (5, 5)
    assert Shelter.objects.count() == 5
    assert 'role="status"' in response.content.decode()


@pytest.mark.urls(__name__)
def test_the_administrator_may_import_too(
    client: Client, municipality: Municipality, sysadmin: User
) -> None:
    client.force_login(sysadmin)
    response = client.post(IMPORT_URL, {"file": upload("gsi_112241_shelters.csv"), "dry_run": "on"})
    assert response.status_code == 200
    assert response.context["summary"].dry_run
    assert not Shelter.objects.exists()


@pytest.mark.urls(__name__)
def test_shelter_staff_may_not_import(
    client: Client, municipality: Municipality, shelter_staff: User
) -> None:
    client.force_login(shelter_staff)
    assert client.get(IMPORT_URL).status_code == 403
    response = client.post(IMPORT_URL, {"file": upload("gsi_112241_shelters.csv")})
    assert response.status_code == 403
    assert not Shelter.objects.exists()


@pytest.mark.urls(__name__)
def test_signed_out_visitors_are_sent_to_sign_in(
    client: Client, municipality: Municipality
) -> None:
    response = client.get(IMPORT_URL)
    assert response.status_code == 302
    assert "/console/login/" in response["Location"]


@pytest.mark.urls(__name__)
def test_the_page_lists_problems_by_row_and_column(
    client: Client, municipality: Municipality, hq: User
) -> None:
    client.force_login(hq)
    bad = with_cell("gsi_112241_shelters.csv", 7, "緯度", "abc")
    response = client.post(IMPORT_URL, {"file": upload("bad.csv", bad)})
    assert response.status_code == 400
    html = response.content.decode()
    assert 'class="error-summary"' in html
    assert 'href="#id_file"' in html
    assert "<td>7</td>" in html
    assert "<td>緯度</td>" in html
    assert not Shelter.objects.exists()


@pytest.mark.urls(__name__)
def test_a_file_too_large_is_refused_before_reading(
    client: Client,
    municipality: Municipality,
    hq: User,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(views_import, "MAX_UPLOAD_BYTES", 100)
    client.force_login(hq)
    response = client.post(IMPORT_URL, {"file": upload("gsi_112241_shelters.csv")})
    assert response.status_code == 400
    assert "100" in response.content.decode()
    assert response.context["form"].errors["file"]
    assert not Shelter.objects.exists()


@pytest.mark.urls(__name__)
def test_posting_without_a_file_is_an_error(
    client: Client, municipality: Municipality, hq: User
) -> None:
    client.force_login(hq)
    response = client.post(IMPORT_URL, {})
    assert response.status_code == 400
    assert response.context["form"].errors["file"]


# --- The whole of Saitama's GSI data, when the shared data folder is there --------------------


@pytest.mark.skipif(
    not (SAITAMA / "evacuation" / "112241.json").exists(),
    reason=f"the shared GSI data for Saitama is not at {SAITAMA}",
)
def test_toda_from_the_full_gsi_data(municipality: Municipality) -> None:
    shelters = run((SAITAMA / "evacuation" / "112241.json").read_bytes())
    sites = run((SAITAMA / "emergency" / "112241.json").read_bytes())
    assert (shelters.rows, sites.rows) == (34, 57)
    # In 戸田市's lists no 指定緊急避難場所 has a 指定避難所's exact name: 校庭, 校舎（３階・４階）…
    assert Shelter.objects.count() == shelters.created + sites.created == 91
    assert Shelter.objects.filter(facility__is_welfare_shelter=True).count() == 3
    again = run((SAITAMA / "emergency" / "112241.json").read_bytes())
    assert again.unchanged == 57
    # Every other Saitama file is for another municipality and is refused.
    other = (SAITAMA / "evacuation" / "112232.json").read_bytes()
    with pytest.raises(ImportRefused):
        run(other)
