"""API of the recovery room: the damage classification and the grant, from the rule tables.

No `from __future__ import annotations`: django-ninja reads the annotations at import.
"""

import datetime as dt
from decimal import Decimal
from typing import Annotated, Any, Literal

from django.http import HttpRequest
from ninja import Field, Router, Schema

from machi.core import problems
from machi.recovery import rules

router = Router(tags=["recovery"])

Number = Decimal | Annotated[str, Field(max_length=16, pattern=r"^\s*\d+(\.\d+)?(/\d+)?\s*$")]


class ClassifyIn(Schema):
    method: Literal["loss_ratio", "floor_area_ratio", "flood_depth", "earthquake"]
    rule_set: Annotated[str, Field(max_length=32)] | None = Field(
        None, description="A table's revision, e.g. R3.3; default: the newest shipped."
    )
    loss_ratio: Number | None = Field(None, description="0.42 for 42% (method loss_ratio)")
    floor_area_ratio: Number | None = Field(None, description="method floor_area_ratio")
    structure: Literal["wooden", "prefab", "non_wooden"] | None = None
    storeys: Annotated[int, Field(ge=1, le=200)] | None = None
    external_force: bool | None = Field(
        None, description="Damage from external force (堤防決壊, 越流, 津波, debris…)."
    )
    depth_above_floor_m: Number | None = Field(
        None, description="Flood depth above the floor in metres; 0: below the floor (床下)."
    )
    washed_away: bool | None = None
    collapse: bool | None = Field(None, description="The house or a storey visibly collapsed.")
    tilt: Number | None = Field(None, description="Mean tilt of the first floor: 0.05 or 1/20.")


class ClassifyOut(Schema):
    damage_class: str
    rule_set: str
    source: str
    method: str
    rule: str = Field(description="The row of the table that decided.")
    flood: str = Field(description="床上 or 床下 for a flood-depth decision, else empty.")
    inputs: dict[str, Any]


class GrantIn(Schema):
    damage_class: Annotated[str, Field(max_length=32)]
    rebuild: Literal["build", "buy", "repair", "rent", "none"]
    household_size: Annotated[int, Field(ge=1, le=100)]
    demolished: bool = False
    long_term_evacuation: bool = False
    rent_addition_paid: Annotated[int, Field(ge=0, le=10_000_000)] = Field(
        0, description="Yen already paid as the rent addition (renting first, building later)."
    )
    disaster_date: dt.date | None = None
    rule_set: Annotated[str, Field(max_length=32)] | None = None


class GrantOut(Schema):
    base: int = Field(description="基礎支援金, yen")
    addition: int = Field(description="加算支援金, yen")
    total: int
    currency: str = "JPY"
    rule_set: str
    source: str
    rule: str
    base_deadline: dt.date | None = Field(None, description="13 months after the disaster.")
    addition_deadline: dt.date | None = Field(None, description="37 months after the disaster.")


@router.post(
    "/recovery/classify",
    response=ClassifyOut,
    summary="The damage class (住家の被害認定) for a survey's inputs, by a rule table",
)
def classify(request: HttpRequest, payload: ClassifyIn) -> dict[str, Any]:
    inputs = {k: v for k, v in payload.dict().items() if v is not None and k != "rule_set"}
    try:
        found = rules.classify(inputs, rule_set=payload.rule_set)
    except rules.RuleError as exc:
        raise problems.invalid(exc.field, str(exc)) from exc
    return {
        "damage_class": found.damage_class,
        "rule_set": found.rule_set,
        "source": found.source,
        "method": found.method,
        "rule": found.rule,
        "flood": found.flood,
        "inputs": {k: str(v) if isinstance(v, Decimal) else v for k, v in inputs.items()},
    }


@router.post(
    "/recovery/grants/calculate",
    response=GrantOut,
    summary="被災者生活再建支援金 for one household: base, addition, deadlines",
)
def grant_calculate(request: HttpRequest, payload: GrantIn) -> rules.Grant:
    try:
        return rules.grant(
            damage_class=payload.damage_class,
            rebuild=payload.rebuild,
            household_size=payload.household_size,
            demolished=payload.demolished,
            long_term_evacuation=payload.long_term_evacuation,
            rent_addition_paid=payload.rent_addition_paid,
            disaster_date=payload.disaster_date,
            rule_set=payload.rule_set,
        )
    except rules.RuleError as exc:
        raise problems.invalid(exc.field, str(exc)) from exc
