"""The open data validators: file, header, character rules and every kind of column."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.utils import translation

from machi.opendata.validation import (
    KINDS,
    Column,
    Issue,
    Report,
    check_value,
    corporate_check_digit,
    validate_csv,
    validate_rows,
)


@pytest.fixture(autouse=True)
def _english(settings: object) -> Iterator[None]:
    settings.LANGUAGE_CODE = "en"  # type: ignore[attr-defined]
    with translation.override("en"):
        yield


def check(kind: str, value: str, **column: bool) -> list[Issue]:
    """The issues of one value in a one-column file."""
    return validate_rows(["c"], [[value]], [Column("c", kind, **column)]).issues


def codes(kind: str, value: str) -> list[tuple[str, str]]:
    return [(issue.code, issue.severity) for issue in check(kind, value)]


def only(kind: str, value: str) -> Issue:
    issues = check(kind, value)
    assert len(issues) == 1, issues
    return issues[0]


# --- 全国地方公共団体コード -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "code",
    [
        "131041",  # 新宿区
        "131130",  # 渋谷区
        "011002",  # 札幌市
        "092011",  # 宇都宮市
        "431001",  # 熊本市
        "470007",  # 沖縄県
        "112241",  # 戸田市
        "010006",  # 北海道
        "270008",  # 大阪府
    ],
)
def test_the_domain_notes_codes_pass(code: str) -> None:
    assert check("lgcode", code) == []


def test_a_code_that_lost_its_leading_zero_gets_the_repair_suggested() -> None:
    issue = only("lgcode", "92011")
    assert (issue.code, issue.severity) == ("lgcode.leading_zero", "error")
    assert issue.params["expected"] == "092011"
    assert "092011" in issue.message()


def test_a_wrong_check_digit_names_the_right_one() -> None:
    issue = only("lgcode", "112240")
    assert issue.code == "lgcode.check_digit"
    assert issue.params == {"value": "112240", "digit": "1", "expected": "112241"}
    assert issue.message() == "The check digit is wrong: 112240 should end in 1 (112241)."


@pytest.mark.parametrize(
    ("value", "code", "expected"),
    [
        ("11224", "lgcode.missing_check_digit", "112241"),  # five digits, not a lost zero
        ("１１２２４１", "lgcode.normalize", "112241"),  # full-width digits
        ("92011.0", "lgcode.normalize", "092011"),  # a float from a spreadsheet
        ("１１２２４０", "lgcode.check_digit", "112241"),
        ("戸田市", "lgcode.format", None),
        ("1234567", "lgcode.format", None),
    ],
)
def test_lgcode_problems(value: str, code: str, expected: str | None) -> None:
    issue = only("lgcode", value)
    assert issue.code == code
    assert issue.params.get("expected") == expected


def test_a_valid_code_no_municipality_has_is_a_warning() -> None:
    # 11999x: the check digit is right, but 埼玉県 has no municipality 999.
    from machi.core import lgcode

    code = "11999" + str(lgcode.check_digit("11999"))
    assert codes("lgcode", code) == [("lgcode.unknown", "warning")]


# --- 法人番号 -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "number",
    [
        "8000020130001",  # 東京都 (地方公共団体: 000020 + 団体コード)
        "5000020112241",  # 戸田市, computed the same way
        "7000012050002",  # 国税庁
        "7123456789012",  # the worked example of 国税庁's description of the formula
        "4011001098993",  # a company
    ],
)
def test_corporate_numbers_with_a_right_check_digit_pass(number: str) -> None:
    assert corporate_check_digit(number[1:]) == int(number[0])
    assert check("corporate_number", number) == []


def test_a_corporate_number_with_a_wrong_check_digit_is_an_error() -> None:
    issue = only("corporate_number", "2000020112241")
    assert issue.code == "corporate_number.check_digit"
    assert issue.params["expected"] == "5000020112241"
    assert "5000020112241" in issue.message()


@pytest.mark.parametrize(
    ("value", "code", "suggestion"),
    [
        ("000020112241", "corporate_number.company_number", None),  # 12 digits
        ("1000020112241", "corporate_number.check_digit", None),
        ("５００００２０１１２２４１", "corporate_number.format", "5000020112241"),
        ("123", "corporate_number.format", None),
    ],
)
def test_corporate_number_problems(value: str, code: str, suggestion: str | None) -> None:
    issue = only("corporate_number", value)
    assert issue.code == code
    assert issue.params.get("suggestion") == suggestion


# --- the other kinds, table-driven ------------------------------------------------------------

GOOD = {
    "text": ["戸田市役所", "ABC", "1"],
    "id": ["001", "A-12", "shelter_3"],
    "kana": ["トダシヤクショ", "トダ　シ", "ダイ・イチ", "ヴァイオリン"],
    "alphabet": ["Toda City Hall", "No.1 (Main)", "A&B-3"],
    "date": ["2025-04-01", "2024-02-29"],
    "time": ["09:30", "23:59:59", "00:00"],
    "datetime": ["2026-11-26T09:30:00+09:00", "2026-11-26T00:30:00Z", "2026-11-26T09:30+09:00"],
    "latitude": ["35.817959", "35.8", "20.42", "45.5"],
    "longitude": ["139.677899", "122.93", "153.98"],
    "flag": ["1"],
    "integer": ["0", "120", "-3"],
    "decimal": ["5.2", "-0.5", "12"],
    "url": ["https://www.city.toda.saitama.jp/", "http://example.jp/a?b=1#c"],
    "phone": ["048-441-1800", "03-1234-5678", "090-1234-5678", "0120-123-456", "119", "#7119"],
    "email": ["info@city.toda.saitama.jp", "a.b+c@example.jp"],
    "postcode": ["335-8588", "100-0001"],
    "machiaza_id": ["0001001", "0123000"],
    "corporate_number": ["8000020130001"],
    "list": ["避難所", "避難所;学校", "a;b;c"],
    "lgcode": ["112241"],
}


def test_every_kind_has_good_examples() -> None:
    assert set(GOOD) == set(KINDS)


@pytest.mark.parametrize(
    ("kind", "value"), [(kind, value) for kind, values in GOOD.items() for value in values]
)
def test_good_values_pass(kind: str, value: str) -> None:
    assert check(kind, value) == []


BAD = [
    # kind, value, code, severity, suggestion
    ("id", "A 12", "id.spaces", "error", None),
    ("id", "００１", "id.fullwidth", "warning", "001"),
    ("kana", "とだし", "kana.hiragana", "warning", "トダシ"),
    ("kana", "戸田市", "kana.invalid", "error", None),
    ("kana", "トダ1", "kana.invalid", "error", None),
    ("alphabet", "Ｔｏｄａ", "alphabet.invalid", "error", "Toda"),
    ("alphabet", "Tōkyō", "alphabet.invalid", "error", "Tokyo"),
    ("alphabet", "戸田", "alphabet.invalid", "error", None),
    ("date", "2024/4/1", "date.format", "error", "2024-04-01"),
    ("date", "2024/04/01", "date.format", "error", "2024-04-01"),
    ("date", "令和6年4月1日", "date.format", "error", "2024-04-01"),
    ("date", "令和元年5月1日", "date.format", "error", "2019-05-01"),
    ("date", "R6.4.1", "date.format", "error", "2024-04-01"),
    ("date", "平成31年4月30日", "date.format", "error", "2019-04-30"),
    ("date", "20240401", "date.format", "error", "2024-04-01"),
    ("date", "2024-04-01T09:00:00+09:00", "date.format", "error", "2024-04-01"),
    ("date", "２０２４－０４－０１", "date.format", "error", "2024-04-01"),
    ("date", "2024-02-30", "date.invalid", "error", None),
    ("date", "来月", "date.format", "error", None),
    ("time", "9:30", "time.format", "error", "09:30"),
    ("time", "9時30分", "time.format", "error", "09:30"),
    ("time", "24:00", "time.format", "error", None),
    ("time", "9:30 AM", "time.format", "error", None),
    ("datetime", "2026-11-26T09:30:00", "datetime.offset", "error", "2026-11-26T09:30:00+09:00"),
    ("datetime", "2026/11/26 9:30", "datetime.offset", "error", "2026-11-26T09:30:00+09:00"),
    (
        "datetime",
        "2026-11-26 09:30:00+09:00",
        "datetime.format",
        "error",
        "2026-11-26T09:30:00+09:00",
    ),
    (
        "datetime",
        "2026-11-26T09:30:00+0900",
        "datetime.format",
        "error",
        "2026-11-26T09:30:00+09:00",
    ),
    ("datetime", "2026-02-30T09:30:00+09:00", "datetime.invalid", "error", None),
    ("datetime", "2026-11-26", "datetime.format", "error", None),
    ("latitude", "35.8179591", "latitude.precision", "warning", "35.817959"),
    ("latitude", "35°49'4.6\"", "latitude.format", "error", "35.817944"),
    ("latitude", "北緯35.8", "latitude.format", "error", "35.8"),
    ("latitude", "３５．８", "latitude.format", "error", "35.8"),
    ("latitude", "51.5", "latitude.range", "error", None),
    ("longitude", "-0.12", "longitude.range", "error", None),
    ("longitude", "139,67", "longitude.format", "error", None),
    ("flag", "○", "flag.format", "error", "1"),
    ("flag", "1.0", "flag.format", "error", "1"),
    ("flag", "true", "flag.format", "error", "1"),
    ("flag", "有", "flag.format", "error", "1"),
    ("flag", "0", "flag.no", "error", None),
    ("flag", "×", "flag.no", "error", None),
    ("flag", "2", "flag.format", "error", None),
    ("integer", "100人", "integer.unit", "error", "100"),
    ("integer", "1,234", "integer.format", "error", "1234"),
    ("integer", "１００", "integer.format", "error", "100"),
    ("integer", "100.0", "integer.format", "error", "100"),
    ("integer", "1.5", "integer.format", "error", None),
    ("integer", "約100", "integer.unit", "error", "100"),
    ("decimal", "5.2m", "decimal.unit", "error", "5.2"),
    ("decimal", "1,234.5", "decimal.format", "error", "1234.5"),
    ("decimal", "abc", "decimal.format", "error", None),
    ("url", "www.city.toda.saitama.jp", "url.format", "error", "https://www.city.toda.saitama.jp"),
    ("url", "HTTPS://EXAMPLE.JP", "url.format", "error", "https://EXAMPLE.JP"),
    ("url", "ftp://example.jp/file", "url.format", "error", None),
    ("url", "https://example.jp/a b", "url.spaces", "error", None),
    ("url", "https://example.jp/避難所", "url.non_ascii", "warning", None),
    ("url", "https://localhostx/", "url.format", "error", None),
    ("phone", "０４８－４４１－１８００", "phone.fullwidth", "error", "048-441-1800"),
    ("phone", "0484411800", "phone.no_hyphens", "warning", None),
    ("phone", "048(441)1800", "phone.format", "error", "048-441-1800"),
    ("phone", "+81-48-441-1800", "phone.format", "error", "048-441-1800"),
    ("phone", "048-441-1800（代表）", "phone.format", "error", None),
    ("phone", "048-441-1800;048-441-1801", "phone.format", "error", None),
    ("email", "ｉｎｆｏ＠ｃｉｔｙ．ｊｐ", "email.format", "error", "info@city.jp"),
    ("email", "mailto:info@city.jp", "email.format", "error", "info@city.jp"),
    ("email", "info@city", "email.format", "error", None),
    ("postcode", "3358588", "postcode.format", "error", "335-8588"),
    ("postcode", "〒335-8588", "postcode.format", "error", "335-8588"),
    ("postcode", "335-858", "postcode.format", "error", None),
    ("machiaza_id", "1001", "machiaza_id.format", "error", "0001001"),
    ("machiaza_id", "00010011", "machiaza_id.format", "error", None),
    ("list", "避難所;;学校", "list.empty_item", "error", None),
    ("list", "避難所;", "list.empty_item", "error", None),
    ("list", "避難所、学校", "list.separator", "warning", "避難所;学校"),
    ("list", "a,b", "list.separator", "warning", "a;b"),
]


@pytest.mark.parametrize(("kind", "value", "code", "severity", "suggestion"), BAD)
def test_bad_values_are_reported(
    kind: str, value: str, code: str, severity: str, suggestion: str | None
) -> None:
    issue = only(kind, value)
    assert (issue.code, issue.severity) == (code, severity)
    assert issue.params.get("suggestion") == suggestion
    assert issue.row == 2
    assert issue.column == "c"
    message = issue.message()
    assert message
    assert "%(" not in message
    assert "…" not in message
    if suggestion is not None:
        assert suggestion in message


@pytest.mark.parametrize(
    "kind", ["lgcode", "date", "integer", "flag", "latitude", "phone", "kana", "id", "url"]
)
@pytest.mark.parametrize("value", ["-", "－", "なし", "不明", "N/A"])
def test_text_for_no_value_is_flagged_outside_text_columns(kind: str, value: str) -> None:
    assert codes(kind, value) == [("cell.no_value", "error")]
    assert codes("text", value) == []


def test_the_date_message_shows_the_expected_form() -> None:
    message = only("date", "2024/4/1").message()
    assert "YYYY-MM-DD" in message
    assert "2024-04-01" in message


def test_check_value_checks_one_value_without_a_file() -> None:
    assert check_value("lgcode", "112241") == []
    assert [code for code, _, _ in check_value("lgcode", " 92011 ")] == ["lgcode.leading_zero"]
    assert check_value("date", "") == []
    with pytest.raises(ValueError, match="unknown kind"):
        check_value("colour", "red")


def test_an_unknown_kind_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="unknown kind"):
        validate_rows(["c"], [["x"]], [Column("c", "colour")])


# --- every cell ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "code", "severity"),
    [
        (" 戸田市", "cell.spaces", "warning"),
        ("戸田市　", "cell.spaces", "warning"),  # full-width space
        ("Toda ", "cell.spaces", "warning"),
        ("一行目\n二行目", "cell.line_break", "warning"),
        ("一行目\r\n二行目", "cell.line_break", "warning"),
        ("第①会議室", "cell.environment_dependent", "error"),
        ("㈱戸田", "cell.environment_dependent", "error"),
        ("㍻31年", "cell.environment_dependent", "error"),
        ("第Ⅱ期", "cell.environment_dependent", "error"),
        ("10㎏", "cell.environment_dependent", "error"),
        ("ﾄﾀﾞｼ", "cell.halfwidth_kana", "error"),
        ("髙橋", "cell.outside_jis", "error"),  # はしご高: an IBM extension, not JIS X 0213
        ("𠮷野", "cell.outside_jis", "error"),
        ("避難所😀", "cell.outside_jis", "error"),
        ("a\tb", "cell.control", "error"),
        ("a\x00b", "cell.control", "error"),
        ("a\x7fb", "cell.control", "error"),
    ],
)
def test_character_rules(value: str, code: str, severity: str) -> None:
    assert codes("text", value) == [(code, severity)]


@pytest.mark.parametrize(
    "value", ["戸田市役所", "～", "〜", "高橋", "﨑", "ヴ", "・", "Toda-shi", "3,000円"]
)
def test_ordinary_text_passes(value: str) -> None:
    assert check("text", value) == []


def test_character_suggestions() -> None:
    assert only("text", "①と㈱").params["suggestion"] == "1と(株)"
    assert only("text", "ﾄﾀﾞｼ役所").params["suggestion"] == "トダシ役所"
    assert only("text", " 戸田 ").params["suggestion"] == "戸田"
    outside = only("text", "髙橋")
    assert outside.params["chars"] == "髙"
    assert outside.params["codepoints"] == "U+9AD9"
    assert "U+0009" in only("text", "a\tb").message()


def test_a_cell_with_spaces_is_still_checked_by_kind() -> None:
    # The padding is a warning; the code inside is checked without it.
    assert codes("lgcode", " 112241 ") == [("cell.spaces", "warning")]
    found = codes("lgcode", " 112240")
    assert sorted(found) == [("cell.spaces", "warning"), ("lgcode.check_digit", "error")]


def test_a_value_with_several_problems_reports_each() -> None:
    found = codes("text", " ①ｱ\n")
    assert ("cell.spaces", "warning") in found
    assert ("cell.environment_dependent", "error") in found
    assert ("cell.halfwidth_kana", "error") in found
    assert ("cell.line_break", "warning") in found


# --- required, unique, coordinates ------------------------------------------------------------


def test_required_and_unique_columns() -> None:
    columns = [Column("ID", "id", required=True, unique=True), Column("名称", required=True)]
    rows = [["1", "a"], ["2", ""], ["1", "c"], ["", "d"], ["3", "   "]]
    report = validate_rows(["ID", "名称"], rows, columns)
    found = [(i.row, i.column, i.code) for i in report.issues]
    assert (3, "名称", "cell.required") in found
    assert (4, "ID", "cell.duplicate") in found
    assert (5, "ID", "cell.required") in found
    assert (6, "名称", "cell.required") in found
    duplicate = next(i for i in report.issues if i.code == "cell.duplicate")
    assert duplicate.params == {"value": "1", "first_row": "2"}
    assert "row 2" in duplicate.message()


def test_an_empty_id_is_a_warning_when_not_required() -> None:
    columns = [Column("ID", "id"), Column("更新日", "date"), Column("名称")]
    report = validate_rows(["ID", "更新日", "名称"], [["", "", "戸田市役所"]], columns)
    assert [(i.column, i.code, i.severity) for i in report.issues] == [
        ("ID", "id.empty", "warning")
    ]


COORDINATES = [Column("名称"), Column("緯度", "latitude"), Column("経度", "longitude")]
HEADER = ["名称", "緯度", "経度"]
TODA = (35.8176, 139.6779, 60.0)


def coordinate_issues(lat: str, lon: str, *, near: tuple[float, float, float] | None = None):
    report = validate_rows(HEADER, [["戸田市役所", lat, lon]], COORDINATES, near=near)
    return [(i.column, i.code, i.severity) for i in report.issues]


def test_coordinates_both_or_neither() -> None:
    assert coordinate_issues("35.817959", "139.677899") == []
    assert coordinate_issues("", "") == []
    assert coordinate_issues("35.817959", "") == [("経度", "coordinates.pair", "error")]
    assert coordinate_issues("", "139.677899") == [("緯度", "coordinates.pair", "error")]


def test_swapped_coordinates_are_named() -> None:
    report = validate_rows(HEADER, [["戸田市役所", "139.677899", "35.817959"]], COORDINATES)
    (issue,) = report.issues
    assert issue.code == "coordinates.swapped"
    message = issue.message()
    assert "swapped" in message
    assert "緯度" in message
    assert "経度" in message
    assert "139.677899" in message


def test_coordinates_outside_japan_are_errors() -> None:
    assert coordinate_issues("51.5", "-0.12") == [
        ("緯度", "latitude.range", "error"),
        ("経度", "longitude.range", "error"),
    ]
    assert coordinate_issues("35.8", "200") == [("経度", "longitude.range", "error")]


def test_coordinates_far_from_the_city_are_a_warning() -> None:
    assert coordinate_issues("35.817959", "139.677899", near=TODA) == []
    osaka = coordinate_issues("34.686297", "135.519661", near=TODA)
    assert osaka == [("緯度", "coordinates.far", "warning")]
    report = validate_rows(HEADER, [["x", "34.686297", "135.519661"]], COORDINATES, near=TODA)
    assert 390 < int(report.issues[0].params["distance"]) < 410  # 戸田市 to 大阪市
    assert "km" in report.issues[0].message()


def test_coordinate_columns_named_緯度_and_経度_are_checked_even_as_text() -> None:
    columns = [Column("名称"), Column("緯度"), Column("経度")]
    report = validate_rows(HEADER, [["x", "139.677899", "35.817959"]], columns)
    assert [i.code for i in report.issues] == ["coordinates.swapped"]


def test_coordinate_pairs_by_name_prefix() -> None:
    columns = [Column("入口_緯度", "latitude"), Column("入口_経度", "longitude"),
               Column("出口_緯度", "latitude"), Column("出口_経度", "longitude")]  # fmt: skip
    header = [c.name for c in columns]
    report = validate_rows(header, [["35.8", "139.6", "", "139.6"]], columns)
    assert [(i.column, i.code) for i in report.issues] == [("出口_緯度", "coordinates.pair")]


def test_a_too_precise_coordinate_is_a_warning() -> None:
    assert coordinate_issues("35.81795912", "139.677899") == [
        ("緯度", "latitude.precision", "warning")
    ]


# --- the header ---------------------------------------------------------------------------------

COLUMNS = [Column("全国地方公共団体コード", "lgcode"), Column("ID", "id"), Column("名称")]
NAMES = [column.name for column in COLUMNS]


def header_issues(header: list[str]) -> list[tuple[int, str, str]]:
    report = validate_rows(header, [], COLUMNS)
    assert all(i.row == 1 and i.severity == "error" for i in report.issues)
    return [(i.row, i.column, i.code) for i in report.issues]


def test_the_expected_header_passes() -> None:
    assert header_issues(NAMES) == []


def test_a_missing_column() -> None:
    assert header_issues(["全国地方公共団体コード", "名称"]) == [(1, "ID", "header.missing")]


def test_an_unknown_column() -> None:
    assert header_issues([*NAMES, "備考"]) == [(1, "備考", "header.unknown")]


def test_columns_in_the_wrong_order() -> None:
    found = validate_rows(["ID", "全国地方公共団体コード", "名称"], [], COLUMNS).issues
    assert [(i.code, i.params["name"]) for i in found] == [("header.order", "ID")]
    assert found[0].params["position"] == "1"
    assert found[0].params["expected_position"] == "2"


def test_a_duplicate_column() -> None:
    found = header_issues([*NAMES, "名称"])
    assert (1, "名称", "header.duplicate") in found


def test_a_column_named_with_spaces_or_full_width_characters_is_recognised() -> None:
    found = validate_rows(["全国地方公共団体コード", "ＩＤ", "名称 "], [], COLUMNS).issues
    assert [(i.code, i.params["found"], i.params["name"]) for i in found] == [
        ("header.renamed", "ＩＤ", "ID"),
        ("header.renamed", "名称 ", "名称"),
    ]


def test_a_column_without_a_name() -> None:
    found = header_issues(["全国地方公共団体コード", "", "ID", "名称"])
    assert found[0] == (1, "", "header.blank")


def test_cells_are_checked_by_column_name_even_when_the_header_is_wrong() -> None:
    report = validate_rows(["名称", "全国地方公共団体コード"], [["戸田市", "112240"]], COLUMNS)
    found = [(i.row, i.column, i.code) for i in report.issues]
    assert (2, "全国地方公共団体コード", "lgcode.check_digit") in found
    assert (1, "ID", "header.missing") in found


# --- the file -----------------------------------------------------------------------------------


def csv_of(*lines: str, ending: str = "\r\n") -> bytes:
    return (ending.join(lines) + ending).encode("utf-8")


GOOD_CSV = ["全国地方公共団体コード,ID,名称", "112241,1,戸田市役所", "112241,2,戸田公園"]


def file_issues(data: bytes, columns: list[Column] = COLUMNS) -> list[tuple[int, str, str]]:
    return [(i.row, i.code, i.severity) for i in validate_csv(data, columns).issues]


def test_a_good_file_passes_with_or_without_bom() -> None:
    report = validate_csv(csv_of(*GOOD_CSV), COLUMNS)
    assert report.ok
    assert report.issues == []
    assert report.rows == 2
    assert validate_csv(b"\xef\xbb\xbf" + csv_of(*GOOD_CSV), COLUMNS).issues == []
    assert validate_csv(csv_of(*GOOD_CSV, ending="\n"), COLUMNS).issues == []


def test_shift_jis_is_not_utf8() -> None:
    data = ("\r\n".join(GOOD_CSV) + "\r\n").encode("cp932")
    report = validate_csv(data, COLUMNS)
    assert not report.ok
    assert [(i.row, i.code) for i in report.issues] == [(0, "file.encoding")]
    assert "not UTF-8" in report.issues[0].message()
    assert report.rows == 2  # the content is still checked


def test_bytes_that_are_neither_utf8_nor_shift_jis() -> None:
    assert file_issues(b"a,b\r\n\x81\xff\xfe\r\n") == [(0, "file.undecodable", "error")]


def test_utf16_is_not_utf8() -> None:
    data = "\ufeff" + "\r\n".join(GOOD_CSV)
    assert file_issues(data.encode("utf-16-le")) == [(0, "file.encoding", "error")]


def test_an_empty_file() -> None:
    assert file_issues(b"") == [(0, "file.empty", "error")]
    assert file_issues(b"\xef\xbb\xbf\r\n") == [(0, "file.empty", "error")]


def test_ragged_rows_name_their_row() -> None:
    data = csv_of(GOOD_CSV[0], "112241,1", "112241,2,戸田公園,余分", GOOD_CSV[2])
    report = validate_csv(data, COLUMNS)
    assert [(i.row, i.code, i.params) for i in report.issues] == [
        (2, "row.length", {"found": "2", "expected": "3"}),
        (3, "row.length", {"found": "4", "expected": "3"}),
    ]
    assert "2 cells" in report.issues[0].message()


def test_blank_rows() -> None:
    data = csv_of(GOOD_CSV[0], GOOD_CSV[1], "", ",,", GOOD_CSV[2])
    assert file_issues(data) == [(3, "row.blank", "error"), (4, "row.blank", "error")]
    assert validate_csv(data, COLUMNS).rows == 2


def test_trailing_empty_columns() -> None:
    data = csv_of(GOOD_CSV[0] + ",", GOOD_CSV[1] + ",", GOOD_CSV[2] + ",")
    assert file_issues(data) == [(1, "file.trailing_columns", "error")]
    rows_only = csv_of(GOOD_CSV[0], GOOD_CSV[1] + ",,", GOOD_CSV[2])
    assert file_issues(rows_only) == [(2, "row.trailing_empty", "error")]


def test_mixed_line_endings_are_a_warning() -> None:
    data = (GOOD_CSV[0] + "\r\n" + GOOD_CSV[1] + "\n" + GOOD_CSV[2] + "\r\n").encode()
    report = validate_csv(data, COLUMNS)
    assert [(i.row, i.code, i.severity) for i in report.issues] == [
        (0, "file.line_endings", "warning")
    ]
    assert report.issues[0].params == {"first": "CRLF", "other": "LF", "row": "2"}
    assert report.ok


def test_a_line_break_inside_a_quoted_cell_is_not_a_line_ending() -> None:
    data = csv_of(GOOD_CSV[0], '112241,1,"戸田\n市役所"', GOOD_CSV[2])
    assert file_issues(data) == [(2, "cell.line_break", "warning")]


def test_rows_are_numbered_as_a_spreadsheet_shows_them() -> None:
    # A cell over two lines is still one spreadsheet row: the next record is row 3.
    data = csv_of(GOOD_CSV[0], '112241,1,"戸田\n市役所"', "112240,2,戸田公園")
    assert (3, "lgcode.check_digit", "error") in file_issues(data)


def test_a_title_above_the_header() -> None:
    data = csv_of("指定緊急避難場所一覧,,", "", *GOOD_CSV)
    report = validate_csv(data, COLUMNS)
    assert [(i.row, i.code) for i in report.issues] == [(1, "file.title_rows")]
    assert report.issues[0].params == {"header_row": "3", "count": "2"}
    assert report.rows == 2


def test_a_repeated_header_row() -> None:
    data = csv_of(GOOD_CSV[0], GOOD_CSV[1], GOOD_CSV[0], GOOD_CSV[2])
    assert file_issues(data) == [(3, "row.repeated_header", "error")]


def test_broken_quotes() -> None:
    data = csv_of(GOOD_CSV[0], GOOD_CSV[1], '112241,2,"戸田"公園')
    assert file_issues(data) == [(3, "file.syntax", "error")]
    unclosed = csv_of(GOOD_CSV[0], '112241,1,"戸田', GOOD_CSV[2])
    assert file_issues(unclosed) == [(2, "file.syntax", "error")]


def test_a_file_checks_header_and_cells_too() -> None:
    data = csv_of("全国地方公共団体コード,名称", "92011,①")
    found = file_issues(data)
    assert (1, "header.missing", "error") in found
    assert (2, "lgcode.leading_zero", "error") in found
    assert (2, "cell.environment_dependent", "error") in found


# --- the report ---------------------------------------------------------------------------------


def test_the_limit_caps_issues_but_keeps_the_counts() -> None:
    columns = [Column("コード", "lgcode"), Column("名称")]
    rows = [["112240", " 名称"] for _ in range(50)]
    report = validate_rows(["コード", "名称"], rows, columns, limit=10)
    assert (report.errors, report.warnings, report.rows) == (50, 50, 50)
    assert len(report.issues) == 10
    assert report.truncated
    assert all(i.severity == "error" for i in report.issues)  # errors first
    assert [i.row for i in report.issues] == list(range(2, 12))  # by row
    assert report.summary_by_code() == [
        ("lgcode.check_digit", "error", 50),
        ("cell.spaces", "warning", 50),
    ]


def test_errors_come_first_then_rows() -> None:
    columns = [Column("コード", "lgcode"), Column("名称")]
    rows = [["112241", " a"], ["112241", "b"], ["112240", "c"]]
    report = validate_rows(["コード", "名称"], rows, columns)
    assert [(i.severity, i.row) for i in report.issues] == [("error", 4), ("warning", 2)]
    assert not report.ok


def test_a_report_of_warnings_only_is_ok() -> None:
    report = validate_rows(["名称"], [[" a"]], [Column("名称")])
    assert report.ok
    assert (report.errors, report.warnings) == (0, 1)


def test_json_round_trip() -> None:
    data = csv_of(GOOD_CSV[0], "92011,1,①", "112241,1,戸田公園")
    columns = [Column("全国地方公共団体コード", "lgcode"), Column("ID", "id", unique=True),
               Column("名称")]  # fmt: skip
    report = validate_csv(data, columns, limit=2)
    assert report.errors == 3
    assert len(report.issues) == 2
    import json

    stored = json.loads(json.dumps(report.to_json()))
    again = Report.from_json(stored)
    assert again == report
    assert again.summary_by_code() == report.summary_by_code()
    assert [i.message() for i in again.issues] == [i.message() for i in report.issues]
    issue = report.issues[0]
    assert Issue.from_json(issue.to_json()) == issue
    assert issue.to_json() == {
        "row": 2,
        "column": "全国地方公共団体コード",
        "code": "lgcode.leading_zero",
        "severity": "error",
        "params": {"value": "92011", "expected": "092011"},
    }


def test_a_report_stored_without_counts_summarises_its_issues() -> None:
    report = Report.from_json(
        {"rows": 3, "errors": 2, "warnings": 0, "issues": [
            {"row": 2, "column": "c", "code": "date.invalid", "severity": "error",
             "params": {"value": "2024-02-30"}},
            {"row": 3, "column": "c", "code": "date.invalid", "severity": "error",
             "params": {"value": "2024-02-31"}},
        ]}
    )  # fmt: skip
    assert report.summary_by_code() == [("date.invalid", "error", 2)]
    assert report.issues[0].message() == "2024-02-30 is not a real date."


def test_messages_survive_missing_params_and_unknown_codes() -> None:
    assert Issue(2, "c", "date.invalid", "error", {}).message() == "… is not a real date."
    assert Issue(2, "c", "some.new_code", "error", {"a": "1"}).message() == "some.new_code a=1"


def test_messages_are_translated_when_read() -> None:
    issue = only("date", "2024-02-30")
    english = issue.message()
    with translation.override("ja"):
        japanese = issue.message()
    # Until the Japanese catalogue has these msgids, gettext falls back to the English text.
    assert "2024-02-30" in english
    assert "2024-02-30" in japanese


def test_every_code_has_a_message() -> None:
    from machi.opendata.validation import MESSAGES

    sample = {
        "value": "v", "expected": "e", "digit": "1", "suggestion": "s", "name": "n", "found": "f",
        "position": "1", "expected_position": "2", "positions": "1, 2", "encoding": "x",
        "line": "1", "first": "CRLF", "other": "LF", "row": "2", "header_row": "2", "count": "1",
        "extra": "1", "char": "c", "chars": "c", "codepoint": "U+0000", "codepoints": "U+0000",
        "first_row": "2", "min": "0", "max": "1", "decimals": "7", "lat_column": "緯度",
        "lon_column": "経度", "latitude": "1", "longitude": "2", "present": "p", "missing": "m",
        "distance": "3", "km": "4", "unit": "u", "separator": "、",
    }  # fmt: skip
    for code in MESSAGES:
        message = Issue(2, "c", code, "error", sample).message()
        assert "%" not in message.replace("%20", ""), code
        assert "…" not in message, code
