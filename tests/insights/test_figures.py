"""The figures are what a hand computation from the other rooms' records gives."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from machi.emergency.models import Disaster
from machi.insights import selectors, services
from machi.insights.models import ProcedureSetting, Setting
from machi.insights.period import Period, fiscal_year_start, presets
from machi.notify.models import Broadcast
from machi.procedures.models import Procedure
from tests.insights.conftest import APRIL, jst

pytestmark = pytest.mark.django_db


def by_name(figures: selectors.Applications) -> dict[str, selectors.ProcedureFigures]:
    return {row.name: row for row in figures.rows}


def test_three_online_of_four_is_75_per_cent_and_a_saturday_is_out_of_hours(
    applications: dict[str, Procedure],
) -> None:
    figures = selectors.applications(APRIL)
    juminhyo = by_name(figures)["住民票の写し"]
    assert (juminhyo.total, juminhyo.online, juminhyo.counter) == (4, 3, 1)
    assert juminhyo.online_share == 0.75
    # The Saturday morning and the Wednesday evening; not the weekday mornings.
    assert juminhyo.out_of_hours == 2
    assert juminhyo.out_of_hours_share == 0.5
    assert juminhyo.online_out_of_hours_share == pytest.approx(2 / 3)
    inkan = by_name(figures)["印鑑登録証明書"]
    assert inkan.out_of_hours == 1  # 29 April, 昭和の日, a Wednesday
    assert (figures.total.total, figures.total.online, figures.total.out_of_hours) == (5, 4, 3)
    assert figures.total.online_share == 0.8


def test_the_period_is_whole_days_in_japan_time(applications: dict[str, Procedure]) -> None:
    march_31 = selectors.applications(Period(dt.date(2026, 3, 31), dt.date(2026, 3, 31)))
    assert march_31.total.total == 1  # 23:59 JST is still 31 March (14:59 UTC)
    may_1 = selectors.applications(Period(dt.date(2026, 5, 1), dt.date(2026, 5, 1)))
    assert may_1.total.total == 1


def test_applications_per_day_for_a_month_per_month_for_a_year(
    applications: dict[str, Procedure],
) -> None:
    april = selectors.applications(APRIL)
    assert april.bin_unit == "day"
    assert len(april.bins) == 30
    eighth = april.bins[7]
    assert (eighth.label, eighth.online, eighth.counter) == ("04/08", 2, 0)
    assert april.bins[8].counter == 1
    year = selectors.applications(Period(dt.date(2026, 1, 1), dt.date(2026, 12, 31)))
    assert year.bin_unit == "month"
    assert [b.label for b in year.bins][:4] == ["2026-01", "2026-02", "2026-03", "2026-04"]
    assert [b.total for b in year.bins][2:5] == [1, 5, 1]


def test_residents_time_and_cost_saved_with_the_default_assumptions(
    applications: dict[str, Procedure],
) -> None:
    juminhyo = by_name(selectors.applications(APRIL))["住民票の写し"]
    # Three online, one of them collected at the counter: two visits avoided.
    assert juminhyo.visits_avoided == 2
    # 2 × (30 min round trip + 20 min waiting) = 100 min; 100/60 h × 1,121 yen = 1,868 yen.
    assert juminhyo.resident_minutes == 100
    assert juminhyo.resident_yen == 1868
    # Staff: 3 online × (15 min at the counter − 5 min online) = 30 min.
    assert juminhyo.staff_minutes == 30


def test_the_city_s_own_assumptions_change_the_figures(
    applications: dict[str, Procedure], dx: Any
) -> None:
    services.setting_update(values={"value_per_hour_yen": 1200, "travel_cost_yen": 400}, by=dx)
    services.procedure_minutes_update(
        procedure_id=applications["juminhyo"].pk,
        values={
            "travel_minutes": 60,
            "waiting_minutes": 30,
            "counter_staff_minutes": 20,
            "online_staff_minutes": 2,
        },
        by=dx,
    )
    figures = selectors.applications(APRIL)
    juminhyo = by_name(figures)["住民票の写し"]
    assert juminhyo.resident_minutes == 2 * 90
    assert juminhyo.resident_yen == 3 * 1200 + 2 * 400
    assert juminhyo.staff_minutes == 3 * 18
    inkan = by_name(figures)["印鑑登録証明書"]  # still the defaults
    assert inkan.resident_yen == round(50 * 1200 / 60 + 400)


def test_minutes_equal_to_the_defaults_follow_them(
    applications: dict[str, Procedure], dx: Any
) -> None:
    procedure_id = applications["inkan"].pk
    values = {
        "travel_minutes": 45,
        "waiting_minutes": 20,
        "counter_staff_minutes": 15,
        "online_staff_minutes": 5,
    }
    services.procedure_minutes_update(procedure_id=procedure_id, values=values, by=dx)
    assert ProcedureSetting.objects.get(procedure_id=procedure_id).travel_minutes == 45
    services.procedure_minutes_update(
        procedure_id=procedure_id, values={**values, "travel_minutes": 30}, by=dx
    )
    assert not ProcedureSetting.objects.exists()
    assert Setting.objects.count() == 0  # nothing changed the defaults: none saved


def test_questions_answered_without_staff(questions: Any) -> None:
    figures = selectors.questions(APRIL)
    assert figures.asked == 4  # the fifth was asked in May
    assert figures.answered == 2  # confident and not 「解決しなかった」
    assert figures.answered_share == 0.5
    assert figures.confident_share == 0.75
    assert figures.needs_staff == 2  # one unsure, one 「解決しなかった」
    assert (figures.resolved_share, figures.unresolved_share, figures.no_feedback_share) == (
        0.25,
        0.25,
        0.5,
    )
    assert figures.staff_minutes == 2 * 5  # two answers × a 5-minute phone call


def test_notification_reach_and_time_to_deliver(broadcasts: dict[str, Broadcast]) -> None:
    figures = selectors.notifications(APRIL)
    assert [b.subject for b in figures.broadcasts] == ["市報4月号", "避難指示"]
    news, alert = figures.broadcasts
    # 避難指示: 7 recipients; 5 delivered after 10, 20, 30, 40 (e-mail) and 60 s (LINE).
    assert (alert.all.recipients, alert.all.delivered, alert.all.failed) == (7, 5, 1)
    assert alert.all.pending == 1
    assert alert.all.reach == pytest.approx(5 / 7)
    assert alert.all.p50 == 30  # the 3rd of 5
    assert alert.all.p95 == 60  # the 5th of 5
    assert alert.all.to_90 is None  # 90% of 7 is 7 people: never reached
    email, line = alert.channels
    assert (email.label, email.recipients, email.delivered, email.p50, email.p95) == (
        "E-mail",
        5,
        4,
        20,
        40,
    )
    assert (line.label, line.recipients, line.delivered, line.p50) == ("LINE", 2, 1, 60)
    # 市報: 10 delivered after 1…10 s: the 5th, the 10th, and 90% (9 people) after 9 s.
    assert (news.all.p50, news.all.p95, news.all.to_90) == (5, 10, 9)
    # The test broadcast and May's are not counted.
    assert figures.total.recipients == 17
    assert figures.total.delivered == 15
    assert figures.total.p50 == 8  # 1…10, 10, 20, 30, 40, 60: the 8th
    assert [c.label for c in figures.channels] == ["E-mail", "LINE"]
    assert figures.channels[0].recipients == 15
    buckets = {b.label: b.count for b in figures.buckets}
    assert buckets["≤10 s"] == 11
    assert buckets["≤1 min"] == 4
    assert sum(buckets.values()) == 15


def test_wifi_share_of_evacuees_connected(flood: Disaster) -> None:
    figures = selectors.wifi(APRIL)
    (row,) = figures.rows
    assert (row.shelters_opened, row.shelters_with_wifi) == (2, 1)
    assert row.peak_clients == 3  # 11:00, at the shelter's site only, during the disaster
    assert row.clients_source == "clients"
    assert row.peak_present == 5  # 10:00; the shelter without Wi-Fi is not compared
    assert row.peak_present_at == jst(12, 10)
    assert row.evacuees == 6
    assert row.connected_share == 0.6


def test_wifi_falls_back_on_the_access_points_hourly_maxima(old_storm: Disaster) -> None:
    (row,) = selectors.wifi(APRIL).rows
    assert row.is_exercise
    assert row.clients_source == "ap_hours"
    assert row.peak_clients == 10  # 4 + 6 at 20:00
    assert row.peak_present == 8
    assert row.connected_share == 1.25


def test_nothing_recorded_gives_no_figure_rather_than_zero(db: Any) -> None:
    figures = selectors.figures(APRIL)
    assert figures.applications.total.online_share is None
    assert figures.questions.answered_share is None
    assert figures.notifications.total.reach is None
    assert figures.wifi.rows == []
    Disaster.objects.create(name="no shelters", started_at=jst(3, 0))
    (row,) = selectors.wifi(APRIL).rows  # under way, no shelter opened, no Wi-Fi seen
    assert (row.peak_clients, row.peak_present, row.connected_share) == (None, None, None)


def test_the_presets_follow_the_japanese_fiscal_year() -> None:
    assert fiscal_year_start(dt.date(2027, 3, 31)) == dt.date(2026, 4, 1)
    assert fiscal_year_start(dt.date(2026, 4, 1)) == dt.date(2026, 4, 1)
    found = {p.key: p.period for p in presets(dt.date(2026, 11, 26))}
    assert found["fy"] == Period(dt.date(2026, 4, 1), dt.date(2026, 11, 26))
    assert found["last_fy"] == Period(dt.date(2025, 4, 1), dt.date(2026, 3, 31))
    assert found["month"] == Period(dt.date(2026, 11, 1), dt.date(2026, 11, 26))
    assert found["last30"] == Period(dt.date(2026, 10, 28), dt.date(2026, 11, 26))
