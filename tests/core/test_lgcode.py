import pytest
from hypothesis import given
from hypothesis import strategies as st

from machi.core import lgcode


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        ("131041", "131041"),  # 新宿区
        ("131130", "131130"),  # 渋谷区
        ("011002", "011002"),  # 札幌市
        ("092011", "092011"),
        ("431001", "431001"),
        ("470007", "470007"),  # 沖縄県
        ("112241", "112241"),  # 戸田市
        ("92011", "092011"),  # a spreadsheet dropped the leading zero
        (92011, "092011"),
        ("１１２２４１", "112241"),  # full-width digits
        (" 112241 ", "112241"),
        ("92011.0", "092011"),
    ],
)
def test_valid_codes_are_repaired_and_accepted(raw: object, code: str) -> None:
    assert lgcode.validate(raw) == code  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("112242", "check digit should be 1"),
        ("abc", "other than digits"),
        ("1234567", "more than six"),
        ("123", "fewer than five"),
        ("", "empty"),
    ],
)
def test_invalid_codes_say_why(raw: str, reason: str) -> None:
    with pytest.raises(lgcode.LgCodeError, match=reason):
        lgcode.validate(raw)


def test_check_digit_remainders_zero_and_one() -> None:
    # r = 0 gives 1 and r = 1 gives 0: the two cases a naive 11 - r gets wrong.
    assert lgcode.check_digit("01100") == 2
    for five in ("13104", "13113", "09201"):
        total = sum(int(d) * w for d, w in zip(five, lgcode.WEIGHTS, strict=True))
        assert lgcode.check_digit(five) == (11 - total % 11) % 10


@given(st.integers(min_value=0, max_value=99999))
def test_every_computed_check_digit_validates_and_others_do_not(number: int) -> None:
    five = f"{number:05d}"
    good = five + str(lgcode.check_digit(five))
    assert lgcode.is_valid(good)
    for digit in "0123456789":
        if five + digit != good:
            assert not lgcode.is_valid(five + digit)


def test_every_bundled_code_is_valid_and_named() -> None:
    governments = lgcode.all_municipalities()
    assert len(governments) > 1900
    assert all(lgcode.is_valid(g.lgcode) for g in governments)
    found = lgcode.lookup("112241")
    assert found is not None
    assert found.full_name == "埼玉県戸田市"


def test_prefecture_codes_resolve_to_the_prefecture() -> None:
    found = lgcode.lookup("010006")
    assert found is not None
    assert found.name == "北海道"
    assert lgcode.lookup("131130").full_name == "東京都渋谷区"  # type: ignore[union-attr]
