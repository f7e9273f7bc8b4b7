"""The recovery room's staff pages: the 被災者台帳 and its households, damage surveys on a
phone, the 罹災証明書 from the counter to the PDF, bulk issuance, grants and rule tables; who
may see and press what, and every look at the ledger audited."""

from __future__ import annotations

import datetime as dt
import io
import json
import re
import uuid
from collections.abc import Callable, Iterator
from html import unescape
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from machi.core.models import AuditEvent, Job, User
from machi.core.roles import Action, Role
from machi.emergency.models import Disaster
from machi.recovery import certificates, ledger, services
from machi.recovery.models import (
    ApplicationStatus,
    Certificate,
    CertificateApplication,
    GrantApplication,
    House,
    IssueBatch,
    LedgerHousehold,
    RuleSet,
    Support,
    Survey,
)

from .test_certificates import reviewed, surveyed_household

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _in_english(settings: Any) -> Iterator[None]:
    """These tests read the pages in English (the msgids); the pages default to Japanese."""
    from django.utils import translation

    settings.LANGUAGE_CODE = "en"
    with translation.override("en"):
        yield


@pytest.fixture
def staff(recovery_staff: User, client_for: Callable[[User], Client]) -> Client:
    return client_for(recovery_staff)


def survey_post(disaster: Disaster, **changes: Any) -> dict[str, Any]:
    """The survey form as a surveyor sends it: a new wooden two-storey house, flooded."""
    data: dict[str, Any] = {
        "survey_id": str(uuid.uuid4()),
        "new_house_id": str(uuid.uuid4()),
        "address": "戸田市美女木5-1",
        "structure": "wooden",
        "storeys": "2",
        "disaster": str(disaster.pk),
        "round": "first",
        "surveyed_on": timezone.localdate().isoformat(),
        "method": "flood_depth",
        "external_force": "yes",
        "depth_above_floor_m": "1.2",
        "notes": "",
    }
    data.update(changes)
    return {k: v for k, v in data.items() if v is not None}


def field_error(html: str, field_id: str) -> str:
    """The text of the error shown beside a field (its id_…_error block)."""
    found = re.search(rf'id="{field_id}_error">(.*?)</div>', html, re.S)
    assert found, f"no error beside #{field_id}"
    return unescape(re.sub(r"<[^>]+>", "", found.group(1))).strip()


# --- Every page, and who may see it -----------------------------------------------------------


def test_each_page_renders_for_recovery_staff(
    hagibis: Disaster, recovery_staff: User, staff: Client, media: None
) -> None:
    household = surveyed_household(hagibis, recovery_staff, 1)
    survey = Survey.objects.get()
    pages = {
        "/console/recovery/": "Victim ledger (被災者台帳)",
        "/console/recovery/households/new/": "Enter a household",
        f"/console/recovery/households/{household.pk}/": "Household of 戸田 1郎",
        "/console/recovery/surveys/new/": "Damage survey",
        f"/console/recovery/surveys/{survey.pk}/": "大規模半壊",
        "/console/recovery/certificates/": "Bulk issuance of certificates",
        "/console/recovery/rules/": "Rule tables",
    }
    for url, text in pages.items():
        page = staff.get(url)
        assert page.status_code == 200, url
        assert text in page.content.decode(), url
    ledger_page = staff.get("/console/recovery/").content.decode()
    assert "戸田 1郎" in ledger_page
    assert "大規模半壊" in ledger_page  # the deciding survey's class, before any certificate
    assert (
        f"/api/v1/recovery/reports/households-by-class?disaster_id={hagibis.pk}&amp;format=csv"
        in ledger_page
    )
    # The CSV behind the link answers for the session that shows the page.
    csv = staff.get(
        f"/api/v1/recovery/reports/households-by-class?disaster_id={hagibis.pk}&format=csv"
    )
    assert csv.status_code == 200
    assert "text/csv" in csv["Content-Type"]


def test_the_ledger_defaults_to_the_current_disaster_and_searches(
    hagibis: Disaster, recovery_staff: User, staff: Client, hq: User
) -> None:
    from machi.emergency import services as emergency_services

    older = emergency_services.disaster_declare(
        name="前の水害",
        hazards=["flood"],
        declared_by=hq,
        started_at=dt.datetime(2010, 1, 1, tzinfo=dt.UTC),
    )
    emergency_services.disaster_end(disaster=older, ended_by=hq)
    for n, name in enumerate(("荒川 一郎", "笹目 花子")):
        ledger.household_by_hand(
            disaster=hagibis,
            head_name=name,
            address=f"戸田市笹目{n}",
            members=[
                ledger.PersonInput(name=name, name_kana="アラカワ イチロウ" if n == 0 else "")
            ],
            house=None,
            by=recovery_staff,
        )
    ledger.household_by_hand(
        disaster=older, head_name="昔 太郎", address="戸田市", members=[], house=None, by=None
    )
    page = staff.get("/console/recovery/").content.decode()
    assert "荒川 一郎" in page
    assert "笹目 花子" in page
    assert "昔 太郎" not in page
    found = staff.get("/console/recovery/", {"disaster": hagibis.pk, "q": "アラカワ"})
    assert "荒川 一郎" in found.content.decode()
    assert "笹目 花子" not in found.content.decode()
    past = staff.get("/console/recovery/", {"disaster": older.pk}).content.decode()
    assert "昔 太郎" in past
    assert "荒川 一郎" not in past


def test_shelter_staff_and_field_may_not_see_the_ledger_but_field_surveys(
    hagibis: Disaster,
    recovery_staff: User,
    shelter_staff: User,
    make_staff: Callable[..., User],
    client_for: Callable[[User], Client],
) -> None:
    household = surveyed_household(hagibis, recovery_staff, 1)
    field = make_staff(Role.FIELD, username="field")
    ledger_pages = [
        "/console/recovery/",
        "/console/recovery/households/new/",
        f"/console/recovery/households/{household.pk}/",
        "/console/recovery/certificates/",
        "/console/recovery/rules/",
    ]
    for user in (shelter_staff, field):
        client = client_for(user)
        for url in ledger_pages:
            assert client.get(url).status_code == 403, (user.username, url)
    surveyor = client_for(field)
    assert surveyor.get("/console/recovery/surveys/new/").status_code == 200
    saved = surveyor.post("/console/recovery/surveys/new/", survey_post(hagibis))
    assert saved.status_code == 302
    result = surveyor.get(saved["Location"]).content.decode()
    assert "大規模半壊" in result
    assert "Enter this house" not in result  # field staff do not enter households
    shelter = client_for(shelter_staff)
    assert shelter.get("/console/recovery/surveys/new/").status_code == 403


def test_hq_reads_and_sees_no_buttons(
    hagibis: Disaster, recovery_staff: User, hq: User, client_for: Callable[[User], Client]
) -> None:
    household = surveyed_household(hagibis, recovery_staff, 1)
    certificates.application_receive(
        household=household, applicant_name="戸田 1郎", channel="counter", by=recovery_staff
    )
    client = client_for(hq)
    page = client.get(f"/console/recovery/households/{household.pk}/").content.decode()
    assert "戸田 1郎" in page
    assert "Mark as reviewed" not in page
    assert "Record support given" not in page
    assert "<form" not in page.split('id="main"', 1)[1]  # nothing to send but the sign-out
    assert client.get("/console/recovery/households/new/").status_code == 403


# --- A new household ----------------------------------------------------------------------------


def test_a_household_by_hand_with_its_house(hagibis: Disaster, staff: Client) -> None:
    token = str(uuid.uuid4())
    data = {
        "disaster": hagibis.pk,
        "household_number": "",
        "head_name": "帰宅困難 者",
        "address": "戸田市役所 避難所",
        "house_token": token,
        "house_address": "東京都板橋区舟渡1-1",
        "house_structure": "wooden",
        "house_storeys": "2",
        "members-TOTAL_FORMS": "6",
        "members-INITIAL_FORMS": "0",
        "members-MIN_NUM_FORMS": "0",
        "members-MAX_NUM_FORMS": "6",
        "members-0-name": "帰宅困難 者",
        "members-0-name_kana": "キタクコンナン モノ",
        "members-0-birth_date": "1980-05-05",
        "members-0-relationship": "世帯主",
        "members-1-name": "帰宅困難 子",
        "members-1-relationship": "子",
    }
    made = staff.post("/console/recovery/households/new/", data)
    assert made.status_code == 302, made.content.decode()
    household = LedgerHousehold.objects.get()
    assert made["Location"] == f"/console/recovery/households/{household.pk}/"
    assert [m.name for m in household.members.order_by("pk")] == ["帰宅困難 者", "帰宅困難 子"]
    assert household.house is not None
    assert household.house.address == "東京都板橋区舟渡1-1"
    # Sent twice (a double tap): one household, one house.
    again = staff.post("/console/recovery/households/new/", data)
    assert again["Location"] == made["Location"]
    assert (LedgerHousehold.objects.count(), House.objects.count()) == (1, 1)
    # Without a house, too.
    houseless = {
        **{k: v for k, v in data.items() if not k.startswith("house_")},
        "house_token": str(uuid.uuid4()),
        "head_name": "通勤 者",
    }
    first = staff.post("/console/recovery/households/new/", houseless)
    second = staff.post("/console/recovery/households/new/", houseless)
    assert first["Location"] == second["Location"]
    assert LedgerHousehold.objects.count() == 2
    assert LedgerHousehold.objects.get(head_name="通勤 者").house is None


def test_a_household_from_the_register_and_the_mistakes_beside_their_fields(
    hagibis: Disaster, staff: Client
) -> None:
    ledger.residents_import(
        data=(
            "宛名番号,世帯番号,氏名,カナ,生年月日,性別,続柄,住所\n"
            "000101,9001,戸田 太郎,トダ タロウ,1950-04-01,男,世帯主,埼玉県戸田市美女木1-2-3\n"
            "000102,9001,戸田 花子,トダ ハナコ,1952-08-15,女,妻,埼玉県戸田市美女木1-2-3\n"
        ).encode()
    )
    base = {
        "disaster": hagibis.pk,
        "house_token": str(uuid.uuid4()),
        "members-TOTAL_FORMS": "6",
        "members-INITIAL_FORMS": "0",
    }
    wrong = staff.post("/console/recovery/households/new/", {**base, "household_number": "404"})
    assert wrong.status_code == 400
    html = wrong.content.decode()
    assert "No resident of the register has this household number" in field_error(
        html, "id_household_number"
    )
    assert 'href="#id_household_number"' in html  # the summary links to the field
    nobody = staff.post(
        "/console/recovery/households/new/",
        {**base, "head_name": "旅行 者", "address": "戸田市", "members-1-name_kana": "カナ"},
    )
    assert nobody.status_code == 400
    assert "Enter the person's name." in field_error(nobody.content.decode(), "id_members-1-name")
    with_house = staff.post(
        "/console/recovery/households/new/",
        {
            **base,
            "head_name": "旅行 者",
            "address": "戸田市",
            "members-1-name_kana": "カナ",
            "house_address": "戸田市美女木9-9",
            "house_structure": "prefab",
            "house_storeys": "1",
        },
    )
    assert with_house.status_code == 400
    assert 'value="戸田市美女木9-9"' in with_house.content.decode()  # kept for the next try
    assert not House.objects.exists()
    assert not LedgerHousehold.objects.exists()
    made = staff.post("/console/recovery/households/new/", {**base, "household_number": "9001"})
    assert made.status_code == 302
    household = LedgerHousehold.objects.get()
    assert household.head_name == "戸田 太郎"
    assert household.members.count() == 2
    page = staff.get(made["Location"]).content.decode()
    assert "戸田 花子" in page
    assert "トダ ハナコ" in page
    assert "1952-08-15" in page


# --- Surveys ------------------------------------------------------------------------------------


def test_a_survey_through_the_form_decides_and_is_recorded_once(
    hagibis: Disaster, staff: Client
) -> None:
    data = survey_post(hagibis)
    saved = staff.post("/console/recovery/surveys/new/", data)
    assert saved.status_code == 302, saved.content.decode()
    survey = Survey.objects.get()
    assert saved["Location"] == f"/console/recovery/surveys/{survey.pk}/"
    assert (survey.damage_class, survey.flood, survey.rule_set) == ("大規模半壊", "床上", "R3.3")
    assert survey.inputs["external_force"] is True
    result = staff.get(saved["Location"]).content.decode()
    assert "大規模半壊" in result
    assert "R3.3" in result
    assert "床上浸水 1.0 m以上1.8 m未満" in result
    assert "Flooded above the floor" in result
    # The same form sent again (a double tap, a retry on a bad line): recorded once.
    again = staff.post("/console/recovery/surveys/new/", data)
    assert again["Location"] == saved["Location"]
    assert (Survey.objects.count(), House.objects.count()) == (1, 1)


def test_a_loss_ratio_in_per_cent_is_a_ratio_and_a_known_house_is_surveyed_again(
    hagibis: Disaster, staff: Client
) -> None:
    house = services.house_register(address="戸田市新曽1", structure="non_wooden", storeys=5)
    form = staff.get(f"/console/recovery/surveys/new/?house={house.pk}").content.decode()
    assert "戸田市新曽1" in form
    assert 'name="address"' not in form
    ids = re.findall(r'name="survey_id" value="([0-9a-f-]{36})"', form)
    assert len(ids) == 1
    other = staff.get(f"/console/recovery/surveys/new/?house={house.pk}").content.decode()
    assert ids[0] not in other  # a fresh id on each load of the form
    saved = staff.post(
        "/console/recovery/surveys/new/",
        {
            **survey_post(hagibis, method="loss_ratio", loss_ratio="40", survey_id=ids[0]),
            "house": str(house.pk),
        },
    )
    assert saved.status_code == 302
    survey = Survey.objects.get()
    assert (survey.house, survey.inputs["loss_ratio"], survey.damage_class) == (
        house,
        "0.4",
        "大規模半壊",  # exactly 40% is 大規模半壊
    )
    assert "40%" in staff.get(saved["Location"]).content.decode()


@pytest.mark.parametrize(
    ("changes", "field", "text"),
    [
        ({"external_force": "no"}, "id_external_force", "No verified flood-depth table"),
        ({"external_force": None}, "id_external_force", "Say whether external force"),
        ({"depth_above_floor_m": ""}, "id_depth_above_floor_m", "Enter a number."),
        ({"storeys": "3"}, "id_storeys", "houses of up to 2 storeys"),
        ({"structure": "non_wooden"}, "id_structure", "wooden and prefabricated houses only"),
        ({"method": "floor_area_ratio", "floor_area_ratio": "30"}, "id_floor_area_ratio", "30%"),
        ({"method": "earthquake", "tilt": "1/40"}, "id_tilt", "judge this house by the loss"),
        ({"method": "loss_ratio", "loss_ratio": "120"}, "id_loss_ratio", "100"),
        ({"address": ""}, "id_address", "This field is required."),
    ],
)
def test_a_bad_survey_shows_the_error_beside_its_field_and_saves_nothing(
    hagibis: Disaster, staff: Client, changes: dict[str, Any], field: str, text: str
) -> None:
    answer = staff.post("/console/recovery/surveys/new/", survey_post(hagibis, **changes))
    assert answer.status_code == 400
    html = answer.content.decode()
    assert text in field_error(html, field)
    assert f'href="#{field}' in html  # the summary at the top links to it
    assert 'class="error-summary"' in html
    assert (Survey.objects.count(), House.objects.count()) == (0, 0)


# --- The certificate, through the buttons -------------------------------------------------------


def test_the_certificate_from_the_counter_to_the_pdf(
    hagibis: Disaster,
    recovery_staff: User,
    counter: User,
    staff: Client,
    client_for: Callable[[User], Client],
    media: None,
) -> None:
    household = surveyed_household(hagibis, recovery_staff, 7)
    desk = client_for(counter)
    # The counter finds the household by name, and sees no more than it needs.
    assert "戸田 7郎" not in desk.get("/console/recovery/").content.decode()
    found = desk.get("/console/recovery/", {"q": "戸田 7郎"}).content.decode()
    assert "戸田 7郎" in found
    assert "Household number" not in found
    detail = desk.get(f"/console/recovery/households/{household.pk}/").content.decode()
    assert "Receive the application" in detail
    assert "People" not in detail
    assert "House and damage surveys" not in detail

    empty = desk.post(
        f"/console/recovery/households/{household.pk}/certificate/",
        {"application-applicant_name": " "},
    )
    assert empty.status_code == 400
    assert "required" in field_error(empty.content.decode(), "id_application-applicant_name")
    received = desk.post(
        f"/console/recovery/households/{household.pk}/certificate/",
        {"application-applicant_name": "戸田 7郎"},
    )
    assert received.status_code == 302
    application = CertificateApplication.objects.get()
    assert application.received_by == counter
    detail = desk.get(f"/console/recovery/households/{household.pk}/").content.decode()
    assert "Mark as reviewed" not in detail
    assert desk.post(f"/console/recovery/applications/{application.pk}/review/").status_code == 403
    assert desk.post(f"/console/recovery/applications/{application.pk}/issue/").status_code == 403

    page = staff.get(f"/console/recovery/households/{household.pk}/").content.decode()
    assert "Mark as reviewed" in page
    assert "Issue the certificate" not in page
    staff.post(f"/console/recovery/applications/{application.pk}/review/")
    page = staff.get(f"/console/recovery/households/{household.pk}/").content.decode()
    assert "Issue the certificate" in page
    issued = staff.post(f"/console/recovery/applications/{application.pk}/issue/")
    assert issued.status_code == 302
    certificate = Certificate.objects.get()
    page = staff.get(issued["Location"]).content.decode()
    assert f"Certificate {certificate.number} issued." in page
    link = f"/api/v1/recovery/certificates/{certificate.pk}/pdf"
    assert f'href="{link}"' in page
    # The counter hands it out: the link shows for it too, and the PDF downloads.
    assert f'href="{link}"' in desk.get(issued["Location"]).content.decode()
    pdf = desk.get(link)
    assert pdf.status_code == 200
    assert b"".join(pdf.streaming_content).startswith(b"%PDF")  # type: ignore[attr-defined]

    refused = staff.post(
        f"/console/recovery/certificates/{certificate.pk}/reissue/", {"reissue-reason": ""}
    )
    assert refused.status_code == 400
    again = staff.post(
        f"/console/recovery/certificates/{certificate.pk}/reissue/", {"reissue-reason": "紛失"}
    )
    assert again.status_code == 302
    certificate.refresh_from_db()
    assert certificate.version == 2
    assert [i.reason for i in certificate.issues.order_by("version")] == ["交付", "紛失"]
    page = staff.get(again["Location"]).content.decode()
    assert "紛失" in page
    assert f"{link}?version=1" in page
    assert "version 2" in page
    assert (
        desk.post(
            f"/console/recovery/certificates/{certificate.pk}/reissue/", {"reissue-reason": "x"}
        ).status_code
        == 403
    )


def test_a_review_without_a_survey_says_why(
    hagibis: Disaster, recovery_staff: User, staff: Client
) -> None:
    household = ledger.household_by_hand(
        disaster=hagibis, head_name="未調査", address="戸田市", members=[], house=None, by=None
    )
    application = certificates.application_receive(
        household=household, applicant_name="未調査", channel="counter", by=recovery_staff
    )
    answer = staff.post(f"/console/recovery/applications/{application.pk}/review/", follow=True)
    assert "The household&#x27;s house is not registered." in answer.content.decode()
    application.refresh_from_db()
    assert application.status == ApplicationStatus.APPLIED


# --- Bulk issuance ------------------------------------------------------------------------------


def test_bulk_issuance_starts_a_job_and_pauses(
    hagibis: Disaster,
    recovery_staff: User,
    staff: Client,
    media: None,
    django_capture_on_commit_callbacks: Any,
) -> None:
    for n in range(3):
        reviewed(hagibis, recovery_staff, n + 20)
    page = staff.get("/console/recovery/certificates/").content.decode()
    assert "Issue 3 certificates" in page
    with django_capture_on_commit_callbacks(execute=False):
        started = staff.post("/console/recovery/certificates/bulk/", {"disaster": hagibis.pk})
    batch = IssueBatch.objects.get()
    job = Job.objects.get()
    assert started.status_code == 302
    assert started["Location"] == f"/console/jobs/{job.pk}/"
    assert batch.job_id == job.pk
    assert staff.get(started["Location"]).status_code == 200
    listed = staff.get("/console/recovery/certificates/").content.decode()
    assert f"/console/recovery/certificates/bulk/{batch.pk}/pause/" in listed
    paused = staff.post(f"/console/recovery/certificates/bulk/{batch.pk}/pause/")
    assert paused.status_code == 302
    batch.refresh_from_db()
    assert batch.status == "paused"
    listed = staff.get("/console/recovery/certificates/").content.decode()
    assert f"/console/recovery/certificates/bulk/{batch.pk}/resume/" in listed
    # Resumed, and this time the job runs once committed (the test settings run tasks at once).
    with django_capture_on_commit_callbacks(execute=True):
        resumed = staff.post(f"/console/recovery/certificates/bulk/{batch.pk}/resume/")
    assert resumed.status_code == 302
    assert "/console/jobs/" in resumed["Location"]
    assert Certificate.objects.count() == 3


# --- Grants and support -------------------------------------------------------------------------


def test_a_grant_applied_for_shows_its_amount_and_moves_on(
    hagibis: Disaster, recovery_staff: User, staff: Client, media: None
) -> None:
    application = reviewed(hagibis, recovery_staff, 30)
    household = application.household
    page = staff.get(f"/console/recovery/households/{household.pk}/").content.decode()
    assert "The grant is applied for once the certificate is issued." in page
    certificates.certificate_issue(application=application, by=recovery_staff)
    url = f"/console/recovery/households/{household.pk}/grants/"
    late = staff.post(
        url,
        {
            "grant-part": "base",
            "grant-household_size": "3",
            "grant-applied_on": "2025-01-01",
        },
    )
    assert late.status_code == 400
    assert "The deadline for this part was 2020-11-13." in field_error(
        late.content.decode(), "id_grant-applied_on"
    )
    no_plan = staff.post(
        url,
        {"grant-part": "addition", "grant-household_size": "3", "grant-applied_on": "2020-01-10"},
    )
    assert "Choose how the household rebuilds" in field_error(
        no_plan.content.decode(), "id_grant-rebuild"
    )
    made = staff.post(
        url,
        {"grant-part": "base", "grant-household_size": "3", "grant-applied_on": "2020-01-10"},
        follow=True,
    )
    assert "500,000 yen" in made.content.decode()
    grant = GrantApplication.objects.get()
    assert grant.amount == 500_000
    for status in ("approved", "paid"):
        staff.post(f"/console/recovery/grants/{grant.pk}/status/", {"status": status})
    grant.refresh_from_db()
    assert grant.status == "paid"
    assert grant.paid_on == timezone.localdate()
    ledger_page = staff.get("/console/recovery/").content.decode()
    assert re.search(r'stats__value">1</span><span class="stats__label">Grants paid', ledger_page)


def test_support_given_is_recorded(hagibis: Disaster, recovery_staff: User, staff: Client) -> None:
    household = surveyed_household(hagibis, recovery_staff, 40)
    url = f"/console/recovery/households/{household.pk}/support/"
    bad = staff.post(url, {"support-kind": "repair", "support-provided_on": "soon"})
    assert bad.status_code == 400
    assert field_error(bad.content.decode(), "id_support-provided_on")
    done = staff.post(
        url,
        {
            "support-kind": "repair",
            "support-provided_on": "2019-11-20",
            "support-amount": "595000",
            "support-note": "屋根",
        },
    )
    assert done.status_code == 302
    support = Support.objects.get()
    assert (support.kind, support.amount, support.recorded_by) == (
        "repair",
        595_000,
        recovery_staff,
    )
    assert "595,000" in staff.get(f"/console/recovery/households/{household.pk}/").content.decode()


# --- Rule tables --------------------------------------------------------------------------------


def test_rule_tables_listed_and_a_city_table_loaded(
    staff: Client, sysadmin: User, hq: User, client_for: Callable[[User], Client]
) -> None:
    page = staff.get("/console/recovery/rules/").content.decode()
    assert "災害に係る住家の被害認定基準運用指針（令和3年3月）" in page
    assert "R2.12" in page
    table = {
        "kind": "damage",
        "name": "TODA-2025",
        "title": "戸田市の判定表",
        "source": "戸田市告示第1号",
        "classes": ["全壊"],
        "methods": {"loss_ratio": {"label": "x", "bands": [{"min": "0.5", "class": "全壊"}]}},
    }

    def upload(client: Client, data: Any, name: str = "table.json") -> Any:
        raw = data if isinstance(data, bytes) else json.dumps(data, ensure_ascii=False).encode()
        file = io.BytesIO(raw)
        file.name = name
        return client.post("/console/recovery/rules/", {"file": file})

    shipped = upload(staff, {**table, "name": "R3.3"})
    assert shipped.status_code == 400
    assert "R3.3 ships with Machi" in field_error(shipped.content.decode(), "id_file")
    broken = upload(staff, b"{not json")
    assert "The file is not JSON" in field_error(broken.content.decode(), "id_file")
    no_source = upload(staff, {**table, "source": ""})
    assert "source" in field_error(no_source.content.decode(), "id_file")
    assert not RuleSet.objects.exists()
    loaded = upload(client_for(sysadmin), table)
    assert loaded.status_code == 302
    assert "戸田市の判定表" in staff.get("/console/recovery/rules/").content.decode()
    assert RuleSet.objects.get().loaded_by == sysadmin
    reader = client_for(hq)
    assert reader.get("/console/recovery/rules/").status_code == 200
    assert (
        'enctype="multipart/form-data"'
        not in reader.get("/console/recovery/rules/").content.decode()
    )
    assert upload(reader, table).status_code == 403


# --- The audit log ------------------------------------------------------------------------------


def test_looking_at_the_ledger_is_audited(
    hagibis: Disaster, recovery_staff: User, auditor: User, client_for: Callable[[User], Client]
) -> None:
    households = [surveyed_household(hagibis, recovery_staff, n) for n in (1, 2)]

    def reads(household: LedgerHousehold) -> int:
        return AuditEvent.objects.filter(
            action=Action.READ,
            object_type="recovery.ledgerhousehold",
            object_id=str(household.pk),
        ).count()

    reader = client_for(auditor)
    assert reader.get("/console/recovery/").status_code == 200
    assert [reads(h) for h in households] == [1, 1]
    assert reader.get(f"/console/recovery/households/{households[0].pk}/").status_code == 200
    assert [reads(h) for h in households] == [2, 1]
    event = AuditEvent.objects.filter(object_id=str(households[0].pk), action=Action.READ).first()
    assert event is not None
    assert event.actor_username == auditor.username
    # A search that finds nobody shows nobody, and logs nobody.
    reader.get("/console/recovery/", {"q": "該当なし"})
    assert [reads(h) for h in households] == [2, 1]


def test_a_survey_through_the_form_keeps_its_photos(
    client_for: Any, make_staff: Any, hq: Any, settings: Any, tmp_path: Any
) -> None:
    import uuid

    from django.core.files.uploadedfile import SimpleUploadedFile

    from machi.emergency import services as emergency_services
    from machi.recovery.models import Survey

    settings.MEDIA_ROOT = tmp_path / "media"
    disaster = emergency_services.disaster_declare(name="台風", hazards=["flood"], declared_by=hq)
    surveyor = make_staff(Role.FIELD, username="surveyor-photos")
    client = client_for(surveyor)
    jpeg = b"\xff\xd8\xff\xe0" + b"\x00" * 100
    answer = client.post(
        "/console/recovery/surveys/new/",
        {
            "survey_id": str(uuid.uuid4()),
            "new_house_id": str(uuid.uuid4()),
            "address": "戸田市美女木9-9",
            "structure": "wooden",
            "storeys": "2",
            "disaster": disaster.pk,
            "round": "first",
            "method": "flood_depth",
            "external_force": "yes",
            "depth_above_floor_m": "1.2",
            "surveyed_on": "2026-11-01",
            "photos": [SimpleUploadedFile("a.jpg", jpeg), SimpleUploadedFile("b.jpg", jpeg)],
        },
    )
    assert answer.status_code == 302, answer.content.decode()[:2000]
    survey = Survey.objects.get()
    assert survey.photos.count() == 2
    page = client.get(answer["Location"]).content.decode()
    assert f"/api/v1/recovery/photos/{survey.photos.first().pk}" in page


def test_a_household_asks_for_a_resurvey_from_its_page(
    client_for: Any, make_staff: Any, hq: Any, settings: Any, tmp_path: Any
) -> None:
    import uuid

    from django.utils import timezone

    from machi.emergency import services as emergency_services
    from machi.recovery import ledger, services
    from machi.recovery.models import ResurveyRequest

    disaster = emergency_services.disaster_declare(name="台風", hazards=["flood"], declared_by=hq)
    staff = make_staff(Role.RECOVERY, username="recovery-resurvey")
    house = services.house_register(address="戸田市美女木8-8", structure="wooden", storeys=1)
    services.survey_record(
        survey_id=uuid.uuid4(),
        house=house,
        disaster=disaster,
        round="first",
        method="flood_depth",
        inputs={"external_force": True, "depth_above_floor_m": "0.3"},
        surveyed_on=timezone.localdate(),
        surveyor=staff,
    )
    household = ledger.household_by_hand(
        disaster=disaster,
        head_name="戸田 八郎",
        address="戸田市美女木8-8",
        members=[ledger.PersonInput(name="戸田 八郎")],
        house=house,
        by=staff,
    )
    client = client_for(staff)
    page = client.get(f"/console/recovery/households/{household.pk}/").content.decode()
    assert f"/console/recovery/households/{household.pk}/resurvey/" in page
    answer = client.post(
        f"/console/recovery/households/{household.pk}/resurvey/", {"reason": "床上60cmでした"}
    )
    assert answer.status_code == 302
    assert ResurveyRequest.objects.get().reason == "床上60cmでした"
    twice = client.post(
        f"/console/recovery/households/{household.pk}/resurvey/", {"reason": "again"}, follow=True
    )
    assert ResurveyRequest.objects.count() == 1
    assert twice.status_code == 200
