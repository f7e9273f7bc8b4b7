"""全国地方公共団体コード: check digit, leading-zero repair, and the bundled code list.

The sixth digit is a check digit over the first five, weights 6-5-4-3-2, modulus 11:
``check = (11 - sum % 11) % 10`` (総務省「全国地方公共団体コード」仕様). Spreadsheets drop leading
zeros, so 5-digit input is padded back to 6 before it is checked.
"""

from __future__ import annotations

import csv
import unicodedata
from dataclasses import dataclass
from functools import cache
from importlib import resources

WEIGHTS = (6, 5, 4, 3, 2)


class LgCodeError(ValueError):
    """The text is not a 全国地方公共団体コード."""


@dataclass(frozen=True)
class LocalGovernment:
    lgcode: str
    prefecture: str
    name: str
    name_kana: str
    latitude: str
    longitude: str
    website: str

    @property
    def full_name(self) -> str:
        return self.prefecture if self.name == self.prefecture else self.prefecture + self.name


def check_digit(first_five: str) -> int:
    if len(first_five) != 5 or not first_five.isdigit():
        raise LgCodeError(f"{first_five!r} is not five digits")
    total = sum(int(d) * w for d, w in zip(first_five, WEIGHTS, strict=True))
    return (11 - total % 11) % 10


def repair(raw: str | int) -> str:
    """Normalise to six digits: full-width digits, spaces, lost leading zeros.

    Five digits are taken as a six-digit code that lost its leading zero (the usual spreadsheet
    damage), not as a code without its check digit: ``92011`` → ``092011``.
    """
    text = unicodedata.normalize("NFKC", str(raw)).strip().replace("-", "")
    if text.endswith(".0"):  # a float from a spreadsheet: 92011.0
        text = text[:-2]
    if not text:
        raise LgCodeError("the code is empty")
    if not text.isdigit():
        raise LgCodeError(f"{raw!r} contains characters other than digits")
    if len(text) > 6:
        raise LgCodeError(f"{raw!r} has more than six digits")
    if len(text) < 5:
        raise LgCodeError(f"{raw!r} has fewer than five digits")
    return text.zfill(6)


def is_valid(code: str) -> bool:
    return len(code) == 6 and code.isdigit() and check_digit(code[:5]) == int(code[5])


def validate(raw: str | int) -> str:
    """The repaired six-digit code, or LgCodeError saying why it is not one."""
    code = repair(raw)
    if not is_valid(code):
        expected = check_digit(code[:5])
        raise LgCodeError(f"{code}: check digit should be {expected}, not {code[5]}")
    return code


@cache
def _registry() -> dict[str, LocalGovernment]:
    # Municipality list from code4fukui/localgovjp (CC0), see core/demo/SOURCES.md.
    text = resources.files("machi.core").joinpath("data/localgovjp.csv").read_text("utf-8-sig")
    registry: dict[str, LocalGovernment] = {}
    for row in csv.DictReader(text.splitlines()):
        code = row["lgcode"].zfill(6)
        registry[code] = LocalGovernment(
            lgcode=code,
            prefecture=row["pref"],
            name=row["city"].replace(" ", ""),
            name_kana=row["citykana"].replace(" ", ""),
            latitude=row["lat"],
            longitude=row["lng"],
            website=row["url"],
        )
    return registry


PREFECTURES = [
    "北海道",
    "青森県",
    "岩手県",
    "宮城県",
    "秋田県",
    "山形県",
    "福島県",
    "茨城県",
    "栃木県",
    "群馬県",
    "埼玉県",
    "千葉県",
    "東京都",
    "神奈川県",
    "新潟県",
    "富山県",
    "石川県",
    "福井県",
    "山梨県",
    "長野県",
    "岐阜県",
    "静岡県",
    "愛知県",
    "三重県",
    "滋賀県",
    "京都府",
    "大阪府",
    "兵庫県",
    "奈良県",
    "和歌山県",
    "鳥取県",
    "島根県",
    "岡山県",
    "広島県",
    "山口県",
    "徳島県",
    "香川県",
    "愛媛県",
    "高知県",
    "福岡県",
    "佐賀県",
    "長崎県",
    "熊本県",
    "大分県",
    "宮崎県",
    "鹿児島県",
    "沖縄県",
]


def lookup(code: str) -> LocalGovernment | None:
    """The municipality (or prefecture, code ``PP000C``) with this valid six-digit code."""
    found = _registry().get(code)
    if found is None and is_valid(code) and code[2:5] == "000":
        number = int(code[:2])
        if 1 <= number <= len(PREFECTURES):
            pref = PREFECTURES[number - 1]
            found = LocalGovernment(code, pref, pref, "", "", "", "")
    return found


def all_municipalities() -> list[LocalGovernment]:
    return list(_registry().values())
