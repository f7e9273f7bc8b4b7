"""Staff read the insights of a period, download them for Excel, and those who hold the right
change the assumptions; a bad period is a field error, never a server error."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from typing import Any

import pytest
from django.urls import reverse

from machi.core.models import AuditEvent, User
from machi.core.roles import Role
from machi.emergency.models import Disaster
from machi.insights.models import ProcedureSetting, Setting
from machi.notify.models import Broadcast
from machi.procedures.models import Procedure
from tests.insights.conftest import jst, procedure, submit

pytestmark = pytest.mark.django_db

APRIL = "?from=2026-04-01&to=2026-04-30"


@pytest.fixture
def everything(
    applications: dict[str, Procedure],
    questions: Any,
    broadcasts: dict[str, Broadcast],
    flood: Disaster,
) -> dict[str, Procedure]:
    return applications


def test_a_stranger_is_sent_to_sign_in(client: Any) -> None:
    for name in ("insights:index", "insights:export", "insights:settings"):
        answer = client.get(reverse(name))
        assert answer.status_code == 302
        assert "/console/login/" in answer["Location"]


def test_staff_without_the_right_are_refused(
    make_staff: Callable[..., User], client_for: Any, facilities: Any
) -> None:
    client = client_for(make_staff(Role.SHELTER_STAFF, facilities=facilities[:1]))
    assert client.get(reverse("insights:index")).status_code == 403
    assert client.get(reverse("insights:export")).status_code == 403
    assert client.get(reverse("insights:settings")).status_code == 403


def test_hq_reads_every_figure_with_its_method(
    everything: dict[str, Procedure], hq: User, client_for: Any
) -> None:
    page = client_for(hq).get(reverse("insights:index") + APRIL)
    assert page.status_code == 200
    text = page.content.decode()
    assert "From 2026-04-01 to 2026-04-30 (30 days)" in text
    for heading in (
        "1. Applications: online and out of office hours",
        "2. Residents' time and cost saved",
        "3. Staff time saved",
        "4. Wi-Fi at shelters",
        "5. Notifications: reach and time to deliver",
        "6. Questions answered without staff",
    ):
        assert heading in text
    assert text.count("How this is computed:") == 6
    assert "住民票の写し" in text
    assert "75.0%" in text  # 3 online of 4
    assert "1,868" in text  # yen saved for 住民票
    assert "60%" in text  # the flood's share of evacuees connected
    assert "令和8年4月大雨" in text
    assert "00000JAPAN" in text
    # Charts are SVG named for screen readers, without inline styles (CSP).
    assert text.count('role="img"') == 5
    assert "style=" not in text.split("<main", 1)[1]
    # HQ reads and downloads; the assumptions are not HQ's to change.
    assert reverse("insights:export") in text
    assert reverse("insights:settings") not in text


def test_an_empty_period_says_there_are_no_records(hq: User, client_for: Any) -> None:
    text = client_for(hq).get(reverse("insights:index") + APRIL).content.decode()
    assert "No records: no application was submitted in this period." in text
    assert "No records: no disaster was under way in this period." in text
    assert "No records: no broadcast was sent in this period." in text
    assert "No records: no question was asked in this period." in text


def test_without_a_period_the_fiscal_year_to_date_is_shown(hq: User, client_for: Any) -> None:
    answer = client_for(hq).get(reverse("insights:index"))
    assert answer.status_code == 200
    period = answer.context["period"]
    assert (period.start.month, period.start.day) == (4, 1)
    assert 'aria-current="true"' in answer.content.decode()  # the preset it matches


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("?from=2026-13-01&to=2026-04-30", "Enter a date like 2026-04-01."),
        ("?from=yesterday", "Enter a date like 2026-04-01."),
        ("?from=2026-04-30&to=2026-04-01", "The end date is before the start date."),
        ("?from=2000-01-01&to=2026-04-01", "The period can be ten years at most."),
    ],
)
def test_a_bad_period_is_a_field_error(hq: User, client_for: Any, query: str, message: str) -> None:
    client = client_for(hq)
    answer = client.get(reverse("insights:index") + query)
    assert answer.status_code == 400
    text = answer.content.decode()
    assert "There is a problem" in text
    assert message in text
    assert "How this is computed:" not in text
    exported = client.get(reverse("insights:export") + query)
    assert exported.status_code == 400
    assert message in exported.content.decode()


def test_the_csv_file_opens_in_excel_and_carries_the_period(
    everything: dict[str, Procedure], hq: User, client_for: Any
) -> None:
    answer = client_for(hq).get(reverse("insights:export") + APRIL)
    assert answer.status_code == 200
    assert answer["Content-Type"] == "text/csv; charset=utf-8"
    assert "insights-20260401-20260430.csv" in answer["Content-Disposition"]
    body = answer.content
    assert body.startswith(b"\xef\xbb\xbf")
    assert b"\r\n" in body
    rows = list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))
    assert rows[0] == [
        "From",
        "To",
        "Section",
        "Figure",
        "Subject",
        "Value",
        "Unit",
        "How this is computed",
        "Source",
    ]
    assert all(row[:2] == ["2026-04-01", "2026-04-30"] for row in rows[1:])
    assert all(row[7] and row[8] for row in rows[1:])  # every figure says how and from what
    found = {(row[3], row[4]): (row[5], row[6]) for row in rows[1:]}
    assert found[("Share made online", "住民票の写し")] == ("75.0", "%")
    assert found[("Residents' cost saved", "住民票の写し")] == ("1868", "yen")
    assert found[("Share answered without staff", "")] == ("50.0", "%")
    assert found[("Share of evacuees connected", "令和8年4月大雨 (2026-04-12)")] == ("60.0", "%")
    assert found[("Time to deliver, median (p50)", "All broadcasts")] == ("8.0", "seconds")
    event = AuditEvent.objects.get(action="export", object_type="insights.figure")
    assert event.detail == {"from": "2026-04-01", "to": "2026-04-30"}
    assert event.actor_username == "hq"


def _settings_form(procedures: list[Procedure], **changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "setting-value_per_hour_yen": 1121,
        "setting-travel_cost_yen": 0,
        "setting-phone_enquiry_minutes": 5,
        "setting-travel_minutes": 30,
        "setting-waiting_minutes": 20,
        "setting-counter_staff_minutes": 15,
        "setting-online_staff_minutes": 5,
        "procedure-TOTAL_FORMS": len(procedures),
        "procedure-INITIAL_FORMS": len(procedures),
    }
    for index, one in enumerate(procedures):
        data.update(
            {
                f"procedure-{index}-procedure": one.pk,
                f"procedure-{index}-travel_minutes": 30,
                f"procedure-{index}-waiting_minutes": 20,
                f"procedure-{index}-counter_staff_minutes": 15,
                f"procedure-{index}-online_staff_minutes": 5,
            }
        )
    data.update(changes)
    return data


def test_the_dx_office_changes_the_assumptions_and_the_audit_log_keeps_them(
    applications: dict[str, Procedure], make_staff: Callable[..., User], client_for: Any
) -> None:
    client = client_for(make_staff(Role.DX, username="dx"))
    procedures = [applications["juminhyo"], applications["inkan"]]
    form = client.get(reverse("insights:settings"))
    assert form.status_code == 200
    assert "1121" in form.content.decode()
    assert "csrfmiddlewaretoken" in form.content.decode()
    answer = client.post(
        reverse("insights:settings"),
        _settings_form(
            procedures,
            **{
                "setting-value_per_hour_yen": 1500,
                "setting-waiting_minutes": 25,
                "procedure-0-travel_minutes": 90,
            },
        ),
    )
    assert answer.status_code == 302
    setting = Setting.objects.get()
    assert (setting.value_per_hour_yen, setting.waiting_minutes) == (1500, 25)
    own = ProcedureSetting.objects.get()  # only the row changed here is the procedure's own
    assert (own.procedure_id, own.travel_minutes, own.waiting_minutes) == (procedures[0].pk, 90, 20)
    event = AuditEvent.objects.get(object_type="insights.setting")
    assert event.action == "create"
    assert event.detail["changed"]["value_per_hour_yen"] == [1121, 1500]
    assert event.actor_username == "dx"
    assert AuditEvent.objects.filter(object_type="insights.proceduresetting").exists()
    page = client.get(reverse("insights:index") + APRIL).content.decode()
    assert "1,500 yen an hour" in page
    assert reverse("insights:settings") in page


def test_a_bad_value_is_shown_by_its_field_and_nothing_is_saved(
    applications: dict[str, Procedure], make_staff: Callable[..., User], client_for: Any
) -> None:
    client = client_for(make_staff(Role.SYSADMIN, username="root"))
    answer = client.post(
        reverse("insights:settings"),
        _settings_form(
            [applications["juminhyo"]],
            **{"setting-value_per_hour_yen": "-5", "procedure-0-waiting_minutes": "lots"},
        ),
    )
    assert answer.status_code == 400
    text = answer.content.decode()
    assert "There is a problem" in text
    assert "Value of an hour of a resident&#x27;s time (yen): Ensure" in text
    assert "住民票の写し: Waiting (min)" in text
    assert not Setting.objects.exists()
    assert not ProcedureSetting.objects.exists()


def test_hq_cannot_change_the_assumptions(hq: User, client_for: Any) -> None:
    client = client_for(hq)
    assert client.get(reverse("insights:settings")).status_code == 403
    assert client.post(reverse("insights:settings"), _settings_form([])).status_code == 403
    assert not Setting.objects.exists()


def test_only_an_end_date_gives_its_fiscal_year_up_to_it(hq: User, client_for: Any) -> None:
    answer = client_for(hq).get(reverse("insights:index") + "?to=2025-12-31")
    assert answer.status_code == 200
    period = answer.context["period"]
    assert (period.start.isoformat(), period.end.isoformat()) == ("2025-04-01", "2025-12-31")


def test_text_that_excel_would_run_stays_text(hq: User, client_for: Any) -> None:
    submit(procedure("formula", '=HYPERLINK("http://example.com")'), jst(8, 10))
    body = client_for(hq).get(reverse("insights:export") + APRIL).content.decode("utf-8-sig")
    subjects = {row[4] for row in csv.reader(io.StringIO(body))}
    assert '\'=HYPERLINK("http://example.com")' in subjects
    assert not any(subject.startswith("=") for subject in subjects)
