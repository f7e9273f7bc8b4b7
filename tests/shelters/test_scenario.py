"""The typhoon scenario replays an evening through the real services, and the counts add up."""

from __future__ import annotations

import datetime as dt
import io
from typing import Any

import pytest
from django.core.management import CommandError, call_command

from machi.core.demo import load_demo_city
from machi.core.models import AuditEvent
from machi.emergency.models import Disaster
from machi.shelters import scenario, selectors, services
from machi.shelters.demo import load_demo_shelters
from machi.shelters.models import (
    Checkin,
    Household,
    Need,
    Opening,
    OpeningStatus,
    Shelter,
    SupplyRequest,
)


class FakeClock:
    """Time that passes only when someone sleeps; optionally Ctrl-C on the n-th sleep."""

    def __init__(self, *, interrupt_at: int | None = None) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []
        self.interrupt_at = interrupt_at

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float, /) -> None:
        self.sleeps.append(seconds)
        if self.interrupt_at is not None and len(self.sleeps) >= self.interrupt_at:
            raise KeyboardInterrupt
        self.now += seconds


@pytest.fixture
def city(db: Any) -> None:
    load_demo_city()


def run(**kw: Any) -> tuple[scenario.ScenarioResult, list[str]]:
    lines: list[str] = []
    options = {"evacuees": 120, "shelters": 5, "minutes": 0, "out": lines.append, **kw}
    return scenario.typhoon(**options), lines


def assert_counts_add_up(disaster: Disaster) -> None:
    board = selectors.hq_dashboard(disaster)
    stays = Checkin.objects.filter(disaster=disaster)
    assert board.present + sum(board.elsewhere.values()) == (
        stays.count() - stays.filter(checked_out_at__isnull=False).count()
    )
    for opening in Opening.objects.filter(disaster=disaster):
        counted = opening.occupancy
        assert services.opening_recount(opening=opening) == counted, opening


def test_a_small_evening_goes_through_the_services_and_adds_up(city: None) -> None:
    result, lines = run()

    disaster = Disaster.objects.get(pk=result.disaster_id)
    assert disaster.is_active
    assert disaster.name == scenario.TYPHOON_NAME
    assert set(disaster.hazards) == {"flood", "inland_flood"}
    live = Opening.objects.filter(
        disaster=disaster, status__in=[OpeningStatus.OPEN, OpeningStatus.FULL]
    )
    assert live.count() == 5

    assert result.people == 120
    assert 40 <= result.households <= 60  # about 2.47 people a household
    assert result.checkins == 120 + result.duplicates + result.transfers
    assert result.present == result.checkins - result.checked_out
    board = selectors.hq_dashboard(disaster)
    assert board.present == result.at_shelters
    assert board.elsewhere == result.elsewhere
    assert result.elsewhere
    assert_counts_add_up(disaster)

    assert result.duplicates >= 1
    assert board.conflicts >= 2  # both stays of a person present at two shelters
    assert result.transfers >= 1
    assert result.checked_out > result.transfers  # some went home during the night
    assert result.supply_requests == SupplyRequest.objects.count() > 0

    # The audit log saw HQ do it, as a task; the people are recognisably synthetic.
    hq_checkins = AuditEvent.objects.filter(
        object_type="shelters.checkin", actor_username="hq", channel="task"
    )
    assert hq_checkins.count() >= result.checkins
    assert all(h.phone.startswith("000-0000-") for h in Household.objects.all())
    assert Checkin.objects.filter(device="scenario:typhoon:1").exists()
    assert lines[-1].startswith("  elapsed")
    assert any("100%" in line for line in lines)


def test_a_city_with_a_shelter_registry_keeps_its_own_capacities(city: None) -> None:
    load_demo_shelters()
    before = dict(Shelter.objects.values_list("pk", "capacity_night"))
    result, _ = run(evacuees=60, shelters=4)
    assert dict(Shelter.objects.values_list("pk", "capacity_night")) == before
    openings = Opening.objects.filter(disaster_id=result.disaster_id)
    assert openings.count() == 4
    assert all(o.capacity == before[o.shelter_id] for o in openings)
    assert_counts_add_up(Disaster.objects.get(pk=result.disaster_id))


def test_a_second_run_adds_a_wave_to_the_same_disaster(city: None) -> None:
    first, _ = run(evacuees=60, shelters=3)
    second, lines = run(evacuees=40, shelters=3)

    assert second.disaster_id == first.disaster_id
    assert Disaster.objects.count() == 1
    assert (first.wave, second.wave) == (1, 2)
    assert any(line.startswith("Reusing the active") for line in lines)
    assert Household.objects.count() == first.households + second.households
    assert second.people == 40
    assert Opening.objects.exclude(status=OpeningStatus.PREPARING).count() == 3
    assert_counts_add_up(Disaster.objects.get())


def test_the_evening_is_paced_over_the_minutes_asked(city: None) -> None:
    clock = FakeClock()
    result, _ = run(evacuees=30, shelters=2, minutes=1, clock=clock)
    assert not result.interrupted
    assert clock.sleeps
    assert all(s > 0 for s in clock.sleeps)
    assert 45 < clock.now - 1000.0 <= 60  # the last event falls late in the evening
    assert result.elapsed == clock.now - 1000.0


def test_ctrl_c_stops_cleanly_and_reports_what_was_done(city: None) -> None:
    clock = FakeClock(interrupt_at=8)
    result, lines = run(evacuees=60, shelters=3, minutes=1, clock=clock)
    assert result.interrupted
    assert any(line.startswith("Interrupted:") for line in lines)
    assert 0 < result.people < 60
    assert result.households == Household.objects.count()
    assert_counts_add_up(Disaster.objects.get(pk=result.disaster_id))


def test_ctrl_c_inside_a_household_leaves_no_half_registered_household(
    city: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = services.checkin_create
    seen: list[Any] = []

    def interrupted(**kw: Any) -> services.CheckinResult:
        household = kw["person"].household_id
        if len(seen) > 20 and household in seen:  # the second member of a household
            raise KeyboardInterrupt
        seen.append(household)
        return real(**kw)

    monkeypatch.setattr(services, "checkin_create", interrupted)
    result, _ = run(evacuees=80, shelters=3)
    assert result.interrupted
    assert not Household.objects.filter(members__checkins__isnull=True).exists()
    assert result.households == Household.objects.count()
    assert_counts_add_up(Disaster.objects.get(pk=result.disaster_id))


def test_synthetic_households_are_deterministic_and_hagibis_shaped() -> None:
    today = dt.date(2019, 10, 12)
    households = scenario.households_generate(evacuees=3849, seed=19, today=today)
    again = scenario.households_generate(evacuees=3849, seed=19, today=today)
    other = scenario.households_generate(evacuees=3849, seed=20, today=today)
    assert households == again
    assert households != other
    members = [m for h in households for m in h.members]
    assert len(members) == 3849
    assert 1450 <= len(households) <= 1650  # Toda had 1,556 households
    ages = [scenario._age(m.birth_date, today) for m in members if m.birth_date]
    assert len(ages) == 3849
    assert min(ages) == 0
    assert max(ages) >= 85
    assert sum(Need.INFANT in m.needs for m in members) > 20
    assert sum(Need.DIALYSIS in m.needs for m in members) < 40
    assert any(m.allergies for m in members)
    assert 0.3 < sum(h.self_registered for h in households) / len(households) < 0.5
    assert all(h.phone.startswith("000-0000-") for h in households)
    assert all(h.address.startswith("埼玉県戸田市") for h in households)


def test_the_command_runs_and_refuses_what_it_cannot_do(city: None) -> None:
    out = io.StringIO()
    call_command(
        "scenario", "typhoon", "--evacuees", "20", "--shelters", "2", "--minutes", "0", stdout=out
    )
    assert "Done: 令和元年東日本台風" in out.getvalue()

    with pytest.raises(CommandError, match="unknown scenario 'earthquake'"):
        call_command("scenario", "earthquake")
    for bad in (
        ["--evacuees", "0"],
        ["--evacuees", "-5"],
        ["--shelters", "0"],
        ["--minutes", "-1"],
        ["--minutes", "nan"],
        ["--evacuees", "many"],
    ):
        with pytest.raises(CommandError):
            call_command("scenario", "typhoon", *bad)
    with pytest.raises(CommandError, match="designated-shelter facilities"):
        call_command("scenario", "typhoon", "--shelters", "999")
