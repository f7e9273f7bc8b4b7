"""The 被災者台帳 (災害対策基本法 90条の3): households and people of a disaster, what they
received, and who the data was given to.

The resident register extract (住民記録) comes from the city's back office as a CSV with these
columns, in UTF-8, UTF-8 with BOM or CP932 (no My Number, ever):

    宛名番号, 世帯番号, 氏名, カナ, 生年月日, 性別, 続柄, 住所

生年月日 is ``YYYY-MM-DD`` or ``YYYY/MM/DD``; 性別 is 男/女 (or 1/2). An import is all or nothing,
upserts by 宛名番号, and names the line and column of a bad value.

A household enters the ledger from the register (by 世帯番号) or by hand (someone not
registered here: a visitor, a commuter). Its people are linked to the evacuees of the
shelters room by reading and birth date; only the link is kept, never a shelter's health
details. Every read and export of the ledger is audited by the API.
"""

from __future__ import annotations

import csv
import datetime as dt
import re
from dataclasses import dataclass
from typing import Any

from django.db import transaction

from machi.core import japanese
from machi.core import services as core_services
from machi.core.models import User
from machi.core.roles import Action
from machi.emergency.models import Disaster
from machi.recovery.models import (
    House,
    LedgerHousehold,
    LedgerPerson,
    Resident,
    Sex,
    Sharing,
    Support,
    SupportKind,
)
from machi.recovery.services import RecoveryError
from machi.shelters import selectors as shelter_selectors

COLUMNS = ("宛名番号", "世帯番号", "氏名", "カナ", "生年月日", "性別", "続柄", "住所")
REQUIRED = ("宛名番号", "世帯番号", "氏名", "住所")
SEXES = {"男": Sex.MALE, "1": Sex.MALE, "女": Sex.FEMALE, "2": Sex.FEMALE, "": ""}
HEAD = "世帯主"
# The longest value each column may hold (the fields of Resident).
LIMITS = {"宛名番号": 15, "世帯番号": 15, "氏名": 64, "カナ": 128, "続柄": 16, "住所": 256}


@dataclass(frozen=True)
class Imported:
    created: int
    updated: int


def _date(text: str, *, line: int) -> dt.date | None:
    if not text:
        return None
    match = re.fullmatch(r"(\d{4})[-/](\d{1,2})[-/](\d{1,2})", text)
    try:
        if match is None:
            raise ValueError(text)
        return dt.date(int(match[1]), int(match[2]), int(match[3]))
    except ValueError as exc:
        raise RecoveryError(
            f"line {line}, 生年月日: not a date (YYYY-MM-DD): {text!r}", field=f"{line}:生年月日"
        ) from exc


def residents_import(*, data: bytes) -> Imported:
    """Load the resident register extract (see the module for the columns)."""
    try:
        rows = list(japanese.read_csv(data))
    except (japanese.CsvDecodeError, csv.Error) as exc:
        raise RecoveryError(str(exc), field="file") from exc
    if not rows:
        raise RecoveryError("the file has no rows", field="file")
    missing = [c for c in REQUIRED if c not in rows[0][1]]
    if missing:
        raise RecoveryError(f"line 1: no column {missing[0]}", field=f"1:{missing[0]}")
    parsed: dict[str, dict[str, Any]] = {}
    for line, row in rows:
        values = {c: japanese.normalize(row.get(c, "")) for c in COLUMNS}
        for column in REQUIRED:
            if not values[column]:
                raise RecoveryError(f"line {line}, {column}: empty", field=f"{line}:{column}")
        for column, limit in LIMITS.items():
            if len(values[column]) > limit:
                raise RecoveryError(
                    f"line {line}, {column}: at most {limit} characters",
                    field=f"{line}:{column}",
                )
        if values["性別"] not in SEXES:
            raise RecoveryError(
                f"line {line}, 性別: 男 or 女 (or 1/2), not {values['性別']!r}",
                field=f"{line}:性別",
            )
        if values["宛名番号"] in parsed:
            raise RecoveryError(
                f"line {line}, 宛名番号: {values['宛名番号']} appears twice",
                field=f"{line}:宛名番号",
            )
        parsed[values["宛名番号"]] = {
            "household_number": values["世帯番号"],
            "name": values["氏名"],
            "name_kana": values["カナ"],
            "kana_key": japanese.kana_key(values["カナ"]) if values["カナ"] else "",
            "birth_date": _date(values["生年月日"], line=line),
            "sex": SEXES[values["性別"]],
            "relationship": values["続柄"],
            "address": values["住所"],
        }
    known = set(
        Resident.objects.filter(atena_number__in=parsed).values_list("atena_number", flat=True)
    )
    with transaction.atomic():
        for number, fields in parsed.items():
            Resident.objects.update_or_create(atena_number=number, defaults=fields)
        core_services.audit_record(
            action=Action.UPDATE, object_type="recovery.resident", detail={"rows": len(parsed)}
        )
    return Imported(created=len(parsed) - len(known), updated=len(known))


def _link_evacuee(person: LedgerPerson) -> None:
    key = japanese.kana_key(person.name_kana) if person.name_kana else ""
    found = shelter_selectors.evacuees_matching(kana_key=key, birth_date=person.birth_date)
    if len(found) == 1:  # two candidates: a person decides, not a guess
        person.evacuee_id = found[0].pk


def household_from_register(
    *, disaster: Disaster, household_number: str, house: House | None, by: User | None
) -> LedgerHousehold:
    """The register's household (by 世帯番号) enters the ledger, once per disaster."""
    existing = LedgerHousehold.objects.filter(
        disaster=disaster, household_number=household_number
    ).first()
    if existing is not None:
        return existing
    residents = list(Resident.objects.filter(household_number=household_number).order_by("pk"))
    if not residents:
        raise RecoveryError("no resident has this 世帯番号", field="household_number")
    head = next((r for r in residents if r.relationship == HEAD), residents[0])
    with transaction.atomic():
        household = LedgerHousehold.objects.create(
            disaster=disaster,
            household_number=household_number,
            head_name=head.name,
            address=head.address,
            house=house,
            created_by=by,
        )
        for resident in residents:
            person = LedgerPerson(
                household=household,
                name=resident.name,
                name_kana=resident.name_kana,
                birth_date=resident.birth_date,
                sex=resident.sex,
                relationship=resident.relationship,
                resident=resident,
            )
            _link_evacuee(person)
            person.save()
        core_services.audit_record(action=Action.CREATE, record=household, actor=by)
    return household


@dataclass(frozen=True)
class PersonInput:
    name: str
    name_kana: str = ""
    birth_date: dt.date | None = None
    sex: str = ""
    relationship: str = ""


def household_by_hand(
    *,
    disaster: Disaster,
    head_name: str,
    address: str,
    members: list[PersonInput],
    house: House | None,
    by: User | None,
) -> LedgerHousehold:
    """Someone not in the city's register (a visitor, a commuter) enters the ledger."""
    if not head_name.strip():
        raise RecoveryError("the head of household needs a name", field="head_name")
    if not address.strip():
        raise RecoveryError("the address or residence (居所) is needed", field="address")
    for index, member in enumerate(members):
        if not member.name.strip():
            raise RecoveryError("each person needs a name", field=f"members[{index}].name")
        if member.sex not in {"", *Sex.values}:
            raise RecoveryError("sex is male or female", field=f"members[{index}].sex")
    with transaction.atomic():
        household = LedgerHousehold.objects.create(
            disaster=disaster,
            head_name=head_name.strip(),
            address=address.strip(),
            house=house,
            created_by=by,
        )
        for member in members:
            person = LedgerPerson(household=household, **member.__dict__)
            _link_evacuee(person)
            person.save()
        core_services.audit_record(action=Action.CREATE, record=household, actor=by)
    return household


def support_record(
    *,
    household: LedgerHousehold,
    kind: str,
    provided_on: dt.date,
    amount: int | None = None,
    note: str = "",
    by: User | None,
) -> Support:
    """援護の実施の状況: one more line of what the household received."""
    if kind not in SupportKind.values:
        raise RecoveryError(f"kind is one of {', '.join(SupportKind.values)}", field="kind")
    with transaction.atomic():
        support = Support.objects.create(
            household=household,
            kind=kind,
            provided_on=provided_on,
            amount=amount,
            note=note.strip()[:300],
            recorded_by=by,
        )
        core_services.audit_record(action=Action.CREATE, record=support, actor=by)
    return support


def sharing_record(
    *,
    disaster: Disaster,
    household: LedgerHousehold | None,
    recipient: str,
    purpose: str,
    legal_basis: str,
    items: list[str],
    by: User | None,
) -> Sharing:
    """The ledger's data went to someone: to whom, why, on what legal basis, which items."""
    for name, value in (
        ("recipient", recipient),
        ("purpose", purpose),
        ("legal_basis", legal_basis),
    ):
        if not value.strip():
            raise RecoveryError(f"{name} is needed", field=name)
    if not items:
        raise RecoveryError("say which items were shared", field="items")
    with transaction.atomic():
        sharing = Sharing.objects.create(
            disaster=disaster,
            household=household,
            recipient=recipient.strip(),
            purpose=purpose.strip(),
            legal_basis=legal_basis.strip(),
            items=[str(i)[:64] for i in items],
            shared_by=by,
        )
        core_services.audit_record(action=Action.EXPORT, record=sharing, actor=by)
    return sharing
