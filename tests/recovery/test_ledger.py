"""The 被災者台帳: households from the register or by hand, linked to evacuees, support and
sharing recorded, every read audited, and only recovery staff and HQ may look."""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from django.test import Client

from machi.core.models import AuditEvent, User
from machi.core.roles import Action, Role
from machi.emergency.models import Disaster
from machi.recovery import ledger, services
from machi.recovery.models import LedgerHousehold, Resident, Sharing
from machi.shelters import services as shelter_services

pytestmark = pytest.mark.django_db

EXTRACT = (
    "宛名番号,世帯番号,氏名,カナ,生年月日,性別,続柄,住所\n"
    "000101,9001,戸田 太郎,トダ タロウ,1950-04-01,男,世帯主,埼玉県戸田市美女木1-2-3\n"
    "000102,9001,戸田 花子,トダ ハナコ,1952/08/15,女,妻,埼玉県戸田市美女木1-2-3\n"
    "000201,9002,荒川 一郎,アラカワ イチロウ,1980-01-01,1,世帯主,埼玉県戸田市下戸田2-1\n"
)


@pytest.fixture
def register(db: Any) -> None:
    ledger.residents_import(data=EXTRACT.encode("cp932"))


def test_the_register_extract_loads_in_cp932_and_upserts(register: None) -> None:
    assert Resident.objects.count() == 3
    hanako = Resident.objects.get(atena_number="000102")
    assert (hanako.birth_date, hanako.sex, hanako.kana_key) == (
        dt.date(1952, 8, 15),
        "female",
        "とだはなこ",
    )
    again = ledger.residents_import(data=EXTRACT.replace("妻", "配偶者").encode())
    assert (again.created, again.updated) == (0, 3)
    hanako.refresh_from_db()
    assert hanako.relationship == "配偶者"


@pytest.mark.parametrize(
    ("line", "field"),
    [
        ("000301,9003,,カナ,1990-01-01,男,世帯主,住所", "2:氏名"),
        ("000301,9003,名前,カナ,1990-13-01,男,世帯主,住所", "2:生年月日"),
        ("000301,9003,名前,カナ,1990-01-01,不明,世帯主,住所", "2:性別"),
    ],
)
def test_a_bad_row_imports_nothing_and_is_named(line: str, field: str, tmp_path: Path) -> None:
    path = tmp_path / "extract.csv"
    path.write_text(EXTRACT.splitlines()[0] + "\n" + line + "\n", encoding="utf-8")
    with pytest.raises(CommandError) as caught:
        call_command("recovery_residents", str(path))
    assert f"extract.csv:{field}:" in str(caught.value)
    assert not Resident.objects.exists()
    out = io.StringIO()
    path.write_text(EXTRACT, encoding="utf-8-sig")
    call_command("recovery_residents", str(path), stdout=out)
    assert "3 residents added" in out.getvalue()


def test_a_household_from_the_register_is_linked_to_its_evacuee(
    register: None, hagibis: Disaster, recovery_staff: User
) -> None:
    evacuee = shelter_services.household_register(
        members=[
            shelter_services.PersonInput(
                family_name="戸田",
                given_name="花子",
                family_name_kana="トダ",
                given_name_kana="ハナコ",
                birth_date=dt.date(1952, 8, 15),
            )
        ],
        disaster=hagibis,
    ).members.get()
    household = ledger.household_from_register(
        disaster=hagibis, household_number="9001", house=None, by=recovery_staff
    )
    assert (household.head_name, household.address) == ("戸田 太郎", "埼玉県戸田市美女木1-2-3")
    people = {p.name: p for p in household.members.all()}
    assert people["戸田 花子"].evacuee_id == evacuee.pk
    assert people["戸田 太郎"].evacuee_id is None
    # Once per disaster.
    again = ledger.household_from_register(
        disaster=hagibis, household_number="9001", house=None, by=recovery_staff
    )
    assert again == household
    assert LedgerHousehold.objects.count() == 1


def test_the_api_keeps_the_ledger_to_recovery_staff_and_audits_every_read(
    register: None,
    hagibis: Disaster,
    recovery_staff: User,
    api_client_for: Callable[[User], Client],
    make_staff: Callable[..., User],
) -> None:
    client = api_client_for(recovery_staff)
    made = client.post(
        "/api/v1/recovery/ledger/households",
        {"disaster_id": hagibis.pk, "household_number": "9002"},
        content_type="application/json",
    )
    assert made.status_code == 201, made.content
    household_id = made.json()["id"]
    by_hand = client.post(
        "/api/v1/recovery/ledger/households",
        {
            "disaster_id": hagibis.pk,
            "head_name": "帰宅困難 者",
            "address": "避難所: 戸田東小学校",
            "members": [{"name": "帰宅困難 者", "sex": "male"}],
        },
        content_type="application/json",
    )
    assert by_hand.status_code == 201
    support = client.post(
        f"/api/v1/recovery/ledger/households/{household_id}/support",
        {"kind": "grant", "provided_on": "2019-12-01", "amount": 1_000_000},
        content_type="application/json",
    )
    assert support.status_code == 201
    shared = client.post(
        "/api/v1/recovery/ledger/sharing",
        {
            "disaster_id": hagibis.pk,
            "household_id": household_id,
            "recipient": "埼玉県 住宅課",
            "purpose": "応急仮設住宅の入居調整",
            "legal_basis": "災害対策基本法第90条の4第1項第2号",
            "items": ["氏名", "住所", "住家の被害の状況"],
        },
        content_type="application/json",
    )
    assert shared.status_code == 201
    assert Sharing.objects.get().recipient == "埼玉県 住宅課"

    listed = client.get(f"/api/v1/recovery/ledger/households?disaster_id={hagibis.pk}")
    assert [h["head_name"] for h in listed.json()] == ["荒川 一郎", "帰宅困難 者"]
    assert listed.json()[0]["support"][0]["amount"] == 1_000_000
    reads = AuditEvent.objects.filter(
        action=Action.READ, object_type="recovery.ledgerhousehold"
    ).count()
    assert reads == 2

    for role in (Role.COUNTER, Role.FIELD):
        other = api_client_for(make_staff(role, username=f"u-{role}"))
        assert (
            other.get(f"/api/v1/recovery/ledger/households?disaster_id={hagibis.pk}").status_code
            == 403
        )
    bad = client.post(
        "/api/v1/recovery/ledger/households",
        {"disaster_id": hagibis.pk, "household_number": "nope"},
        content_type="application/json",
    )
    assert bad.status_code == 422
    assert "household_number" in bad.content.decode()


def test_sharing_needs_a_legal_basis(hagibis: Disaster, recovery_staff: User) -> None:
    with pytest.raises(services.RecoveryError) as caught:
        ledger.sharing_record(
            disaster=hagibis,
            household=None,
            recipient="社会福祉協議会",
            purpose="見守り",
            legal_basis=" ",
            items=["氏名"],
            by=recovery_staff,
        )
    assert caught.value.field == "legal_basis"
