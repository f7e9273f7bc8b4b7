import datetime as dt

import pytest

from machi.core import japanese


@pytest.mark.parametrize(
    ("day", "full", "short"),
    [
        (dt.date(2019, 4, 30), "平成31年4月30日", "H31.4.30"),
        (dt.date(2019, 5, 1), "令和元年5月1日", "R1.5.1"),
        (dt.date(2025, 4, 1), "令和7年4月1日", "R7.4.1"),
        (dt.date(1989, 1, 7), "昭和64年1月7日", "S64.1.7"),
        (dt.date(1989, 1, 8), "平成元年1月8日", "H1.1.8"),
        (dt.date(1926, 12, 25), "昭和元年12月25日", "S1.12.25"),
        (dt.date(1912, 7, 30), "大正元年7月30日", "T1.7.30"),
    ],
)
def test_wareki(day: dt.date, full: str, short: str) -> None:
    assert japanese.wareki(day) == full
    assert japanese.wareki(day, short=True) == short


def test_wareki_year_and_before_meiji6() -> None:
    assert japanese.wareki_year(dt.date(2026, 11, 26)) == "令和8年"
    with pytest.raises(ValueError, match="明治6年"):
        japanese.wareki(dt.date(1872, 12, 31))


def test_normalize_unifies_widths_spaces_and_dashes() -> None:
    assert japanese.normalize("ＡＢＣ　１２３") == "ABC 123"
    assert japanese.normalize("ｶﾞｯｺｳ") == "ガッコウ"
    assert japanese.normalize("上戸田１ー１８ー１") == "上戸田1-18-1"
    assert japanese.normalize("上戸田1−18－1") == "上戸田1-18-1"
    assert japanese.normalize("センター") == "センター"  # a long vowel stays
    assert japanese.normalize("  戸田市   役所 ") == "戸田市 役所"


def test_kana_conversions() -> None:
    assert japanese.to_katakana("とだし") == "トダシ"
    assert japanese.to_hiragana("トダシ") == "とだし"
    assert japanese.to_katakana("ﾄﾀﾞｼ") == "トダシ"
    assert japanese.kana_key("ト ダ シ") == japanese.kana_key("とだし")


ROWS = "名称,住所\n戸田市役所,埼玉県戸田市上戸田1-18-1\n"


@pytest.mark.parametrize(
    ("data", "encoding"),
    [
        (ROWS.encode("utf-8"), "utf-8"),
        (b"\xef\xbb\xbf" + ROWS.encode("utf-8"), "utf-8-sig"),
        (ROWS.encode("cp932"), "cp932"),
    ],
)
def test_csv_in_every_encoding_cities_use(data: bytes, encoding: str) -> None:
    assert japanese.decode_csv_bytes(data).encoding == encoding
    rows = list(japanese.read_csv(data))
    assert rows == [(2, {"名称": "戸田市役所", "住所": "埼玉県戸田市上戸田1-18-1"})]


def test_csv_line_numbers_count_physical_lines_and_skip_blank_rows() -> None:
    data = '名称,備考\nA,"two\nlines"\n\nB,x\n'.encode()
    assert [line for line, _ in japanese.read_csv(data)] == [2, 5]


def test_csv_header_is_normalised() -> None:
    data = "名称 ,ＩＤ\nA,1\n".encode()
    assert next(japanese.read_csv(data))[1] == {"名称": "A", "ID": "1"}


def test_undecodable_csv_names_the_line() -> None:
    data = "名称\nA\n".encode("cp932") + b"\x81\xff\n"
    with pytest.raises(japanese.CsvDecodeError) as info:
        japanese.decode_csv_bytes(data)
    assert info.value.row == 3
    assert "3" in str(info.value)  # "3行目: …" in Japanese, "line 3: …" in English


def test_excel_csv_has_bom_and_crlf() -> None:
    data = japanese.excel_csv([["名称"], ["戸田市役所"]])
    assert data.startswith(b"\xef\xbb\xbf")
    assert data.decode("utf-8-sig") == "名称\r\n戸田市役所\r\n"
