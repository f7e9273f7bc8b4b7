"""Rule tables kept as data: house damage classes (住家の被害認定) and the livelihood recovery
grant (被災者生活再建支援金).

A table is a JSON document with its name (the revision, e.g. ``R3.3``), its title and its
source. Machi ships the verified ones (``recovery/rulesets/``); a city may load another with
its source. Every answer names the table and the row that decided it, so a decision can be
explained and re-checked when the rules change.

Numbers are exact: ratios, depths and tilts are compared as fractions (``Fraction``), never as
binary floats, so 0.5 m is 0.5 m and a loss of exactly 40% is 大規模半壊.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from decimal import Decimal
from fractions import Fraction
from functools import cache
from importlib import resources
from typing import Any

STRUCTURES = ("wooden", "prefab", "non_wooden")
STRUCTURE_LABELS = {"wooden": "木造", "prefab": "プレハブ", "non_wooden": "非木造"}
REBUILD = ("build", "buy", "repair", "rent", "none")
REBUILD_WORDS = {
    "build": "建設",
    "buy": "購入",
    "repair": "補修",
    "rent": "賃借",
    "none": "再建なし",
}


class RuleError(ValueError):
    """The inputs fit no row of the table (or no shipped table); ``field`` names the input."""

    def __init__(self, message: str, *, field: str = "") -> None:
        super().__init__(message)
        self.field = field


def exact(value: Any, *, field: str) -> Fraction:
    """A number as an exact fraction: 1.2, "1.2", "1/20", Decimal("0.4") all exactly."""
    if isinstance(value, bool) or value is None:
        raise RuleError("a number is needed", field=field)
    try:
        if isinstance(value, float):
            return Fraction(Decimal(repr(value)))  # the decimal the client wrote, not the binary
        if isinstance(value, Decimal | int):
            return Fraction(value)
        return Fraction(str(value).strip())
    except (ValueError, ZeroDivisionError) as exc:
        raise RuleError(f"not a number: {value!r}", field=field) from exc


def _band_text(band: dict[str, Any], unit: str) -> str:
    """The band in the words of the guidelines: 「1.0 m以上1.8 m未満」, 「0 m超0.5 m未満」."""
    low = band.get("min")
    high = band.get("max")
    left = f"{low}{unit}{'超' if band.get('min_exclusive') else '以上'}" if low is not None else ""
    right = f"{high}{unit}未満" if high is not None else ""
    return left + right


def _in_band(value: Fraction, band: dict[str, Any]) -> bool:
    if "min" in band:
        low = Fraction(str(band["min"]))
        if value < low or (band.get("min_exclusive") and value == low):
            return False
    return not ("max" in band and value >= Fraction(str(band["max"])))


# --- Tables ---------------------------------------------------------------------------------------


@cache
def shipped() -> dict[str, dict[str, Any]]:
    """The tables that ship with Machi, by kind:name."""
    found: dict[str, dict[str, Any]] = {}
    for entry in resources.files("machi.recovery.rulesets").iterdir():
        if entry.name.endswith(".json"):
            table = json.loads(entry.read_text(encoding="utf-8"))
            found[f"{table['kind']}:{table['name']}"] = table
    return found


def table(kind: str, name: str | None = None) -> dict[str, Any]:
    """A table by kind and name; without a name, the newest shipped one of the kind."""
    from machi.recovery.models import RuleSet

    if name:
        loaded = RuleSet.objects.filter(kind=kind, name=name).first()
        if loaded is not None:
            return dict(loaded.data)
        key = f"{kind}:{name}"
        if key not in shipped():
            raise RuleError(f"no {kind} rule table named {name!r}", field="rule_set")
        return shipped()[key]
    tables = [t for k, t in shipped().items() if k.startswith(f"{kind}:")]
    if not tables:
        raise RuleError(f"no {kind} rule table is installed", field="rule_set")
    return max(tables, key=lambda t: str(t.get("effective_from", t["name"])))


def validate(data: dict[str, Any]) -> dict[str, Any]:
    """Check a table a city loads: its name, source, and that every band and class is sound."""
    for key in ("kind", "name", "title", "source"):
        if not str(data.get(key, "")).strip():
            raise RuleError(f"the table needs a {key}", field=key)
    if data["kind"] == "damage":
        classes = set(data.get("classes", []))
        for method, rules in data.get("methods", {}).items():
            for index, band in enumerate(rules.get("bands", [])):
                if band.get("class") not in classes:
                    raise RuleError(
                        f"{method} band {index}: unknown class {band.get('class')!r}",
                        field=f"methods.{method}.bands[{index}]",
                    )
                for bound in ("min", "max"):
                    if bound in band:
                        exact(band[bound], field=f"methods.{method}.bands[{index}].{bound}")
    elif data["kind"] == "grant":
        for key in ("base", "addition", "unit_yen"):
            if key not in data:
                raise RuleError(f"the table needs {key}", field=key)
    else:
        raise RuleError("kind is damage or grant", field="kind")
    return data


# --- House damage ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Classification:
    damage_class: str
    rule_set: str
    source: str
    method: str
    rule: str  # the row that decided, in words
    inputs: dict[str, Any] = field(default_factory=dict)
    flood: str = ""  # 床上 / 床下 for a flood decision


def _by_bands(
    rules: dict[str, Any], value: Fraction, *, field: str, unit: str = ""
) -> tuple[str, str]:
    for band in rules["bands"]:
        if _in_band(value, band):
            return band["class"], _band_text(band, unit)
    raise RuleError(
        f"{float(value):g}{unit} is not covered by the shipped rows of this table "
        "(load the city's table with its source)",
        field=field,
    )


def classify(inputs: dict[str, Any], *, rule_set: str | None = None) -> Classification:
    """The damage class for a survey's inputs, by the table that decides (see the module)."""
    data = table("damage", rule_set)
    method = str(inputs.get("method", ""))
    rules = data["methods"].get(method)
    if rules is None:
        known = ", ".join(sorted(data["methods"]))
        raise RuleError(f"method is one of {known}", field="method")
    name, source = data["name"], data["source"]

    def decided(damage_class: str, rule: str, flood: str = "") -> Classification:
        return Classification(damage_class, name, source, method, rule, dict(inputs), flood)

    if method in {"loss_ratio", "floor_area_ratio"}:
        ratio = exact(inputs.get(method), field=method)
        if not 0 <= ratio <= 1:
            raise RuleError("a ratio is between 0 and 1 (0.42 for 42%)", field=method)
        damage_class, rule = _by_bands(rules, ratio, field=method)
        return decided(damage_class, f"{rules['label']} {rule}")
    if method == "flood_depth":
        structure = str(inputs.get("structure", ""))
        if structure not in STRUCTURES:
            raise RuleError(f"structure is one of {', '.join(STRUCTURES)}", field="structure")
        if structure not in rules["structures"]:
            raise RuleError(
                f"the flood-depth table applies to {', '.join(rules['structures'])} houses; "
                "survey this one by loss_ratio",
                field="structure",
            )
        storeys = inputs.get("storeys")
        if storeys is not None and int(storeys) > int(rules["storeys_max"]):
            raise RuleError(
                f"the flood-depth table applies up to {rules['storeys_max']} storeys",
                field="storeys",
            )
        external = inputs.get("external_force")
        if not isinstance(external, bool):
            raise RuleError("say whether external force damaged the house", field="external_force")
        if external != rules["external_force"]:
            raise RuleError(
                "no shipped flood-depth table for a house without damage from external force "
                "(load the city's table with its source, or survey by loss_ratio)",
                field="external_force",
            )
        if inputs.get("washed_away") is True:
            return decided(rules["washed_away"], "流失", flood="床上")
        depth = exact(inputs.get("depth_above_floor_m"), field="depth_above_floor_m")
        if depth <= 0:
            return decided(rules["below_floor"], "床下浸水", flood="床下")
        damage_class, rule = _by_bands(rules, depth, field="depth_above_floor_m", unit=" m")
        return decided(damage_class, f"床上浸水 {rule}", flood="床上")
    if method == "earthquake":
        if inputs.get("collapse") is True:
            return decided(rules["collapse"], "一見して住家全部が倒壊")
        if "tilt" in inputs:
            tilt = exact(inputs.get("tilt"), field="tilt")
            if tilt >= Fraction(str(rules["tilt_min"])):
                return decided(rules["tilt_class"], f"傾斜 {rules['tilt_min']}以上")
        raise RuleError(
            "the earthquake shortcuts decide only 全壊 (collapse, or a tilt of at least "
            f"{rules['tilt_min']}); survey this house by loss_ratio",
            field="tilt" if "tilt" in inputs else "collapse",
        )
    raise RuleError(f"the table has no way to read method {method!r}", field="method")


# --- The livelihood recovery grant ----------------------------------------------------------------


@dataclass(frozen=True)
class Grant:
    base: int
    addition: int
    total: int
    rule_set: str
    source: str
    rule: str
    base_deadline: dt.date | None = None
    addition_deadline: dt.date | None = None


def _months_later(day: dt.date, months: int) -> dt.date:
    year, month = divmod(day.month - 1 + months, 12)
    target_year, target_month = day.year + year, month + 1
    for last in (31, 30, 29, 28):
        try:
            return dt.date(target_year, target_month, min(day.day, last))
        except ValueError:
            continue
    raise ValueError(day)  # pragma: no cover - a month has at least 28 days


def grant(
    *,
    damage_class: str,
    rebuild: str,
    household_size: int,
    demolished: bool = False,
    long_term_evacuation: bool = False,
    rent_addition_paid: int = 0,
    disaster_date: dt.date | None = None,
    rule_set: str | None = None,
) -> Grant:
    """Base and addition in yen for one household, with the rule and the deadlines.

    Renting first and building later: the additions together are capped at the build amount,
    so ``rent_addition_paid`` (yen already paid as the rent addition) is taken off.
    """
    data = table("grant", rule_set)
    if rebuild not in REBUILD:
        raise RuleError(f"rebuild is one of {', '.join(REBUILD)}", field="rebuild")
    if household_size < 1:
        raise RuleError("a household has at least one person", field="household_size")
    basis = "解体" if demolished else "長期避難" if long_term_evacuation else damage_class
    if basis not in data["base"]:
        eligible = ", ".join(k for k in data["base"] if k not in {"解体", "長期避難"})
        raise RuleError(
            f"{damage_class} receives no livelihood recovery grant (eligible: {eligible}, "
            "or a house demolished or under long-term evacuation)",
            field="damage_class",
        )
    unit = Fraction(int(data["unit_yen"]))
    share = Fraction(str(data["one_person_share"])) if household_size == 1 else Fraction(1)
    base = Fraction(data["base"][basis]) * unit * share
    addition = Fraction(data["addition"][basis][rebuild]) * unit * share
    rule = f"{basis}・{REBUILD_WORDS[rebuild]}" + (
        "・単身世帯（4分の3）" if household_size == 1 else ""
    )
    if rent_addition_paid:
        if rebuild not in {"build", "buy", "repair"}:
            raise RuleError(
                "a rent addition already paid matters only when building, buying or repairing "
                "later",
                field="rent_addition_paid",
            )
        addition = max(Fraction(0), addition - rent_addition_paid)
        rule += "・賃借後の加算額を控除"
    deadlines = data.get("deadlines_months", {})
    return Grant(
        base=int(base),
        addition=int(addition),
        total=int(base + addition),
        rule_set=data["name"],
        source=data["source"],
        rule=rule,
        base_deadline=_months_later(disaster_date, deadlines["base"]) if disaster_date else None,
        addition_deadline=(
            _months_later(disaster_date, deadlines["addition"]) if disaster_date else None
        ),
    )
