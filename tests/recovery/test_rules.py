"""Damage classes and grants from the rule tables: exact at every boundary, named by the table."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from fractions import Fraction
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from machi.recovery import rules

pytestmark = pytest.mark.django_db

LOSS_BANDS = [  # (low, high, class) of R3.3, 損害割合
    (Fraction(50, 100), Fraction(1), "全壊"),
    (Fraction(40, 100), Fraction(50, 100), "大規模半壊"),
    (Fraction(30, 100), Fraction(40, 100), "中規模半壊"),
    (Fraction(20, 100), Fraction(30, 100), "半壊"),
    (Fraction(10, 100), Fraction(20, 100), "準半壊"),
    (Fraction(0), Fraction(10, 100), "準半壊に至らない（一部損壊）"),
]
FLOOD = {"method": "flood_depth", "structure": "wooden", "external_force": True}


def loss(value: Any) -> str:
    return rules.classify({"method": "loss_ratio", "loss_ratio": value}).damage_class


def flood(depth: Any, **more: Any) -> rules.Classification:
    return rules.classify({**FLOOD, "depth_above_floor_m": depth, **more})


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("0.5", "全壊"),
        (0.5, "全壊"),
        ("0.4999999", "大規模半壊"),
        (0.4, "大規模半壊"),
        ("0.3", "中規模半壊"),
        (0.2, "半壊"),
        ("1/10", "準半壊"),
        ("0.0999", "準半壊に至らない（一部損壊）"),
        (0, "準半壊に至らない（一部損壊）"),
        (1, "全壊"),
    ],
)
def test_loss_ratio_boundaries_are_exact(value: Any, expected: str) -> None:
    assert loss(value) == expected


@given(st.fractions(min_value=0, max_value=1))
def test_every_loss_ratio_falls_in_exactly_its_band(value: Fraction) -> None:
    expected = next(c for low, high, c in LOSS_BANDS if low <= value < high or value == high == 1)
    assert loss(f"{value.numerator}/{value.denominator}") == expected


@given(st.decimals(min_value=0, max_value=1, places=4))
def test_decimal_inputs_are_read_as_written(value: Decimal) -> None:
    """0.3 written by a client is 0.3, not the binary float 0.29999…"""
    as_float = loss(float(value))
    assert as_float == loss(str(value)) == loss(value)


@pytest.mark.parametrize(
    ("depth", "expected", "level"),
    [
        ("1.8", "全壊", "床上"),
        (1.7999, "大規模半壊", "床上"),
        ("1.0", "大規模半壊", "床上"),
        (0.9999, "中規模半壊", "床上"),
        (0.5, "中規模半壊", "床上"),
        ("0.49", "半壊", "床上"),
        ("0.01", "半壊", "床上"),
        (0, "準半壊に至らない（一部損壊）", "床下"),
    ],
)
def test_flood_depth_boundaries(depth: Any, expected: str, level: str) -> None:
    found = flood(depth)
    assert (found.damage_class, found.flood, found.rule_set) == (expected, level, "R3.3")
    assert "R3.3" in rules.table("damage")["name"]


@given(st.decimals(min_value=Decimal("0.001"), max_value=10, places=3))
def test_a_deeper_flood_is_never_a_lighter_class(depth: Decimal) -> None:
    order = rules.table("damage")["classes"]
    deeper = depth + Decimal("0.1")
    assert order.index(flood(deeper).damage_class) <= order.index(flood(depth).damage_class)


def test_washed_away_and_the_earthquake_shortcuts() -> None:
    assert flood(None, washed_away=True).damage_class == "全壊"
    quake = {"method": "earthquake"}
    assert rules.classify({**quake, "collapse": True}).damage_class == "全壊"
    assert rules.classify({**quake, "tilt": "1/20"}).damage_class == "全壊"
    assert rules.classify({**quake, "tilt": 0.05}).damage_class == "全壊"
    with pytest.raises(rules.RuleError) as caught:
        rules.classify({**quake, "tilt": "1/21"})
    assert caught.value.field == "tilt"


@pytest.mark.parametrize(
    ("inputs", "field"),
    [
        ({**FLOOD, "external_force": False, "depth_above_floor_m": 1}, "external_force"),
        ({**FLOOD, "structure": "non_wooden", "depth_above_floor_m": 1}, "structure"),
        ({**FLOOD, "storeys": 3, "depth_above_floor_m": 1}, "storeys"),
        ({"method": "floor_area_ratio", "floor_area_ratio": "0.3"}, "floor_area_ratio"),
        ({"method": "loss_ratio", "loss_ratio": "1.2"}, "loss_ratio"),
        ({"method": "loss_ratio", "loss_ratio": "forty"}, "loss_ratio"),
        ({"method": "guess"}, "method"),
    ],
)
def test_inputs_no_shipped_table_covers_are_refused_by_name(
    inputs: dict[str, Any], field: str
) -> None:
    with pytest.raises(rules.RuleError) as caught:
        rules.classify(inputs)
    assert caught.value.field == field


# --- The grant ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "base", "addition"),
    [
        ({"damage_class": "全壊", "rebuild": "build", "household_size": 3}, 1_000_000, 2_000_000),
        ({"damage_class": "全壊", "rebuild": "build", "household_size": 1}, 750_000, 1_500_000),
        ({"damage_class": "大規模半壊", "rebuild": "rent", "household_size": 2}, 500_000, 500_000),
        ({"damage_class": "大規模半壊", "rebuild": "none", "household_size": 1}, 375_000, 0),
        ({"damage_class": "中規模半壊", "rebuild": "repair", "household_size": 4}, 0, 500_000),
        ({"damage_class": "中規模半壊", "rebuild": "rent", "household_size": 1}, 0, 187_500),
        (
            {"damage_class": "半壊", "rebuild": "repair", "household_size": 2, "demolished": True},
            1_000_000,
            1_000_000,
        ),
        (
            {
                "damage_class": "全壊",
                "rebuild": "build",
                "household_size": 2,
                "rent_addition_paid": 500_000,
            },
            1_000_000,
            1_500_000,
        ),
    ],
)
def test_grant_amounts(kwargs: dict[str, Any], base: int, addition: int) -> None:
    found = rules.grant(**kwargs)
    assert (found.base, found.addition, found.total) == (base, addition, base + addition)
    assert found.rule_set == "R2.12"


def test_grant_deadlines_and_refusals() -> None:
    found = rules.grant(
        damage_class="全壊",
        rebuild="build",
        household_size=2,
        disaster_date=dt.date(2019, 10, 12),
    )
    assert (found.base_deadline, found.addition_deadline) == (
        dt.date(2020, 11, 12),
        dt.date(2022, 11, 12),
    )
    assert rules.grant(
        damage_class="全壊", rebuild="none", household_size=2, disaster_date=dt.date(2024, 1, 31)
    ).base_deadline == dt.date(2025, 2, 28)
    with pytest.raises(rules.RuleError) as caught:
        rules.grant(damage_class="半壊", rebuild="repair", household_size=2)
    assert caught.value.field == "damage_class"


# --- The API --------------------------------------------------------------------------------------


def test_the_api_classifies_and_calculates(api_client_for: Any, hq: Any) -> None:
    client = api_client_for(hq)
    answer = client.post(
        "/api/v1/recovery/classify",
        {
            "method": "flood_depth",
            "structure": "wooden",
            "external_force": True,
            "depth_above_floor_m": 1.2,
        },
        content_type="application/json",
    )
    assert answer.status_code == 200, answer.content
    assert answer.json()["damage_class"] == "大規模半壊"
    assert answer.json()["rule_set"] == "R3.3"
    assert answer.json()["flood"] == "床上"
    ratio = client.post(
        "/api/v1/recovery/classify",
        {"method": "loss_ratio", "loss_ratio": 0.42},
        content_type="application/json",
    )
    assert ratio.json()["damage_class"] == "大規模半壊"
    refused = client.post(
        "/api/v1/recovery/classify",
        {"method": "flood_depth", "structure": "wooden", "external_force": False},
        content_type="application/json",
    )
    assert refused.status_code == 422
    assert "external_force" in refused.content.decode()
    grant = client.post(
        "/api/v1/recovery/grants/calculate",
        {"damage_class": "全壊", "rebuild": "build", "household_size": 1},
        content_type="application/json",
    )
    assert grant.status_code == 200
    assert (grant.json()["base"], grant.json()["addition"], grant.json()["total"]) == (
        750_000,
        1_500_000,
        2_250_000,
    )
    assert (
        client.post("/api/v1/recovery/classify", {}, content_type="application/json").status_code
        == 422
    )
