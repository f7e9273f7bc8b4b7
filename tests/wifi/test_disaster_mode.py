"""Disaster mode: 00000JAPAN on every chosen AP, confirmed by reading it back, and back again.

Every test talks to simulated OpenWrt APs (machi.wifi.simulator) over HTTP on a free port,
through the real OpenWrt driver; Huey runs the job at once (test settings).
"""

from __future__ import annotations

import asyncio
import copy
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from machi.core import jobs
from machi.core.hazards import Hazard
from machi.core.models import AuditEvent, Facility, Job, JobStatus, User
from machi.emergency import services as emergency_services
from machi.emergency.models import ChronologyEntry, Disaster, ResponderRun, ResponderStatus
from machi.wifi import disaster_mode, responders, services
from machi.wifi.models import (
    DISASTER_SSID,
    AccessPoint,
    ApSwitch,
    ConfigStatus,
    Driver,
    Mode,
    Site,
    SsidProfile,
    SwitchStatus,
)
from machi.wifi.simulator import DEFAULT_PASSWORD, DEFAULT_SSID, SimulatorHandle, default_mac
from machi.wifi.simulator import start_simulator as _start_simulator
from tests.core.factories import FacilityFactory


@pytest.fixture(autouse=True)
def _in_english(settings: Any) -> Iterator[None]:
    """These tests read messages in English (the msgids); the pages default to Japanese."""
    from django.utils import translation

    settings.LANGUAGE_CODE = "en"
    with translation.override("en"):
        yield


# --- The simulated fleet, running on its own event loop in a thread ---------------------------


class RunningSimulator:
    """``with RunningSimulator(6, faults={2: "down"}) as sim:`` simulated APs on a free port.

    The simulator is asyncio; it runs on a loop in a thread of its own, as it would run in its
    own process, while the code under test (the job runner) uses its own loop and thread.
    """

    def __init__(self, aps: Any, port: int = 0, **options: Any) -> None:
        self.aps, self.port, self.options = aps, port, options
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.handle: SimulatorHandle | None = None

    def run(self, coroutine: Any, timeout: float = 30) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)

    def __enter__(self) -> SimulatorHandle:
        self.thread.start()
        self.handle = self.run(_start_simulator(self.aps, self.port, **self.options))
        return self.handle

    def __exit__(self, *exc: object) -> None:
        if self.handle is not None:
            self.run(self.handle.stop())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


def make_fleet(
    sim: SimulatorHandle,
    facilities: list[Facility],
    *,
    per_site: int = 2,
    owe: bool = False,
) -> list[AccessPoint]:
    """A site per facility with ``per_site`` APs (AP n at the simulator's /ap/n/ubus), their
    free Wi-Fi profile, and the 00000JAPAN profile (isolation on, 128 clients at most)."""
    free = SsidProfile.objects.filter(kind="free").first() or services.profile_create(
        name="free", kind="free", ssid=DEFAULT_SSID
    )
    if not SsidProfile.objects.filter(kind="disaster").exists():
        services.profile_create(
            name="00000JAPAN",
            kind="disaster",
            ssid=DISASTER_SSID,
            isolate=True,
            max_clients=128,
            owe_companion=owe,
        )
    aps = []
    n = AccessPoint.objects.count()
    for facility in facilities:
        site = services.site_get_or_create(facility=facility)
        for k in range(per_site):
            n += 1
            ap, _key = services.ap_create(
                site=site,
                name=f"{facility.name}-{k + 1}",
                mac=default_mac(n),
                management_url=sim.url(n),
                username="root",
                secret=DEFAULT_PASSWORD,
                profiles=[free],
            )
            aps.append(ap)
    return aps


def number(ap: AccessPoint) -> int:
    """The simulator's number of an AP (from its management address)."""
    return int(ap.management_url.rstrip("/").split("/")[-2])


@pytest.fixture(autouse=True)
def _quick(settings: Any) -> None:
    """Retries without the production back-off, and short timeouts for hung APs."""
    settings.MACHI_WIFI_SWITCH_BACKOFF = 0.01
    settings.MACHI_WIFI_DRIVER_TIMEOUT = 0.5


@pytest.fixture
def sim() -> Iterator[SimulatorHandle]:
    with RunningSimulator(6) as handle:
        yield handle


@pytest.fixture
def fleet(sim: SimulatorHandle, facilities: list[Facility]) -> list[AccessPoint]:
    return make_fleet(sim, facilities)


@pytest.fixture
def declared(hq: User, settings: Any, django_capture_on_commit_callbacks: Any) -> Disaster:
    """A declared disaster, without the Wi-Fi responder: these tests switch by hand."""
    settings.MACHI_RESPONDERS = ["machi.shelters.responders.respond"]
    with django_capture_on_commit_callbacks(execute=True):
        return emergency_services.disaster_declare(
            name="令和元年台風第19号", hazards=[Hazard.FLOOD], declared_by=hq
        )


@pytest.fixture
def switch(django_capture_on_commit_callbacks: Any) -> Callable[..., Job]:
    """``switch(sites="all", on=True, by=user)``: ask, let the worker run it, return the job."""

    def run(*, by: User | None, sites: Any = "all", on: bool = True, drill: bool = False) -> Job:
        with django_capture_on_commit_callbacks(execute=True):
            job = disaster_mode.disaster_mode_start(
                sites=sites, on=on, requested_by=by, drill=drill
            )
        job.refresh_from_db()
        return job

    return run


def outcomes(job: Job) -> dict[str, str]:
    return dict(ApSwitch.objects.filter(job=job).values_list("ap__name", "status"))


# --- Switching ON -------------------------------------------------------------------------------


def test_switching_on_confirms_00000japan_on_every_ap_by_reading_it_back(
    sim: SimulatorHandle,
    fleet: list[AccessPoint],
    declared: Disaster,
    hq: User,
    switch: Callable[..., Job],
) -> None:
    before = {number(ap): copy.deepcopy(sim.ap(number(ap)).committed) for ap in fleet}
    job = switch(by=hq)

    assert job.status == JobStatus.SUCCEEDED
    assert set(outcomes(job).values()) == {SwitchStatus.CONFIRMED}
    assert (job.done, job.total) == (6, 6)
    assert job.result["confirmed"] == 6
    assert job.result["failed"] == 0
    for ap in AccessPoint.objects.all():
        simulated = sim.ap(number(ap))
        # What a phone nearby sees: 00000JAPAN alone, open, isolated, at most 128 clients.
        assert simulated.broadcast() == [DISASTER_SSID]
        for vif in simulated.vifs:
            assert vif.config["encryption"] == "none"
            assert vif.config["isolate"] is True
            assert vif.config["maxassoc"] == 128
        assert ap.mode == Mode.DISASTER
        assert ap.broadcasting == [DISASTER_SSID]
        assert ap.config_status == ConfigStatus.APPLIED
        # The normal configuration was kept before anything changed.
        kept = disaster_mode.config_from_store(ap.saved_config)
        assert kept == before[number(ap)]
    switched = ApSwitch.objects.filter(job=job)
    assert all(s.confirmed_at is not None and s.attempts == 1 for s in switched)
    line = ChronologyEntry.objects.filter(disaster=declared, text__contains="00000JAPAN").get()
    assert line.text == "00000JAPAN 開放: 6/6 台確認"
    request = AuditEvent.objects.filter(object_type="wifi.disaster_mode").order_by("at")
    assert request.first().detail["aps"] == 6  # the request …
    assert request.last().detail["confirmed"] == 6  # … and its outcome
    assert AuditEvent.objects.filter(object_type="wifi.accesspoint", action="update").count() == 6


def test_normal_times_refuse_00000japan_unless_it_is_a_drill(
    sim: SimulatorHandle, fleet: list[AccessPoint], hq: User, switch: Callable[..., Job]
) -> None:
    with pytest.raises(disaster_mode.DisasterModeRefused) as refused:
        disaster_mode.disaster_mode_start(sites="all", on=True, requested_by=hq)
    assert refused.value.field == "drill"
    assert not Job.objects.exists()
    assert all(sim.broadcast(number(ap)) == [DEFAULT_SSID] for ap in fleet)

    job = switch(by=hq, drill=True)  # 訓練: allowed, and recorded as such
    assert set(outcomes(job).values()) == {SwitchStatus.CONFIRMED}
    assert set(AccessPoint.objects.values_list("mode", flat=True)) == {Mode.DRILL}
    assert ApSwitch.objects.filter(job=job, drill=True).count() == 6
    assert ChronologyEntry.objects.get().text == "【訓練】00000JAPAN 開放: 6/6 台確認"


def test_the_worker_refuses_a_queued_switch_once_the_disaster_has_ended(
    sim: SimulatorHandle,
    fleet: list[AccessPoint],
    declared: Disaster,
    hq: User,
    django_capture_on_commit_callbacks: Any,
) -> None:
    with django_capture_on_commit_callbacks(execute=False) as queued:
        job = disaster_mode.disaster_mode_start(sites="all", on=True, requested_by=hq)
    with django_capture_on_commit_callbacks(execute=True):
        emergency_services.disaster_end(disaster=declared, ended_by=hq)
    for callback in queued:
        callback()  # the worker gets to the job only now
    assert set(outcomes(job).values()) == {SwitchStatus.FAILED}
    assert all(sim.broadcast(number(ap)) == [DEFAULT_SSID] for ap in fleet)
    assert all(sim.ap(number(ap)).commits == 0 for ap in fleet)


def test_an_exercise_switches_as_a_drill(
    sim: SimulatorHandle,
    fleet: list[AccessPoint],
    hq: User,
    switch: Callable[..., Job],
    django_capture_on_commit_callbacks: Any,
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        emergency_services.disaster_declare(
            name="総合防災訓練", hazards=[Hazard.EARTHQUAKE], declared_by=hq, is_exercise=True
        )
    job = switch(by=hq)
    assert job.params["drill"] is True
    assert set(AccessPoint.objects.values_list("mode", flat=True)) == {Mode.DRILL}


def test_a_dead_ap_fails_after_three_attempts_while_the_others_confirm(
    facilities: list[Facility], declared: Disaster, hq: User, switch: Callable[..., Job]
) -> None:
    with RunningSimulator(6, faults={2: "down", 5: "timeout"}) as sim:
        fleet = make_fleet(sim, facilities)
        job = switch(by=hq)
        assert sim.broadcast(1) == [DISASTER_SSID]
    by_ap = {s.ap.mac: s for s in ApSwitch.objects.filter(job=job).select_related("ap")}
    down, hung = by_ap[fleet[1].mac], by_ap[fleet[4].mac]
    assert (down.status, down.attempts) == (SwitchStatus.FAILED, 3)
    assert "unreachable" in down.error
    assert (hung.status, hung.attempts) == (SwitchStatus.FAILED, 3)
    assert "time" in hung.error
    confirmed = [s for s in by_ap.values() if s.status == SwitchStatus.CONFIRMED]
    assert len(confirmed) == 4
    failed_ap = AccessPoint.objects.get(pk=fleet[1].pk)
    assert (failed_ap.config_status, failed_ap.mode) == (ConfigStatus.ERROR, Mode.NORMAL)
    assert job.message == "4 of 6 confirmed, 2 failed"
    text = ChronologyEntry.objects.get(text__contains="00000JAPAN").text
    assert text == "00000JAPAN 開放: 4/6 台確認、2 台失敗"


def test_an_ap_that_accepts_but_does_not_apply_is_failed_by_the_read_back(
    facilities: list[Facility], declared: Disaster, hq: User, switch: Callable[..., Job]
) -> None:
    with RunningSimulator(6, faults={3: "no_apply"}) as sim:
        fleet = make_fleet(sim, facilities)
        job = switch(by=hq)
        assert sim.ap(3).commits == 3  # it said yes three times
        assert sim.broadcast(3) == [DEFAULT_SSID]  # and never did it
    failed = ApSwitch.objects.get(job=job, ap=fleet[2])
    assert (failed.status, failed.attempts) == (SwitchStatus.FAILED, 3)
    assert failed.error == f"read back {DEFAULT_SSID}, not {DISASTER_SSID} alone"
    assert AccessPoint.objects.get(pk=fleet[2].pk).broadcasting == []  # nothing confirmed
    assert ApSwitch.objects.filter(job=job, status=SwitchStatus.CONFIRMED).count() == 5


def test_the_owe_companion_is_applied_and_checked_when_the_profile_asks(
    facilities: list[Facility], declared: Disaster, hq: User, switch: Callable[..., Job]
) -> None:
    with RunningSimulator(2) as sim:
        make_fleet(sim, facilities[:1], owe=True)
        job = switch(by=hq)
        encryptions = sorted(str(v.config["encryption"]) for v in sim.ap(1).vifs)
        assert sim.broadcast(1) == [DISASTER_SSID]  # the OWE twin is hidden
    assert encryptions == ["none", "none", "owe", "owe"]
    assert set(outcomes(job).values()) == {SwitchStatus.CONFIRMED}


# --- Switching OFF -------------------------------------------------------------------------------


def test_restoring_writes_back_exactly_the_interfaces_read_before(
    sim: SimulatorHandle,
    fleet: list[AccessPoint],
    declared: Disaster,
    hq: User,
    switch: Callable[..., Job],
) -> None:
    # AP 1 has a configuration of its own: a hidden staff SSID, in an anonymous section.
    custom = sim.ap(1)
    custom.committed["cfg0a1b2c"] = {
        ".type": "wifi-iface",
        ".anonymous": True,
        "device": "radio1",
        "network": "staff",
        "mode": "ap",
        "ssid": "Toda_Staff",
        "encryption": "sae-mixed",
        "key": "correct horse battery",
        "hidden": "1",
        "isolate": "0",
    }
    custom._bring_up(custom.committed)
    before = {number(ap): copy.deepcopy(sim.ap(number(ap)).committed) for ap in fleet}

    switch(by=hq)
    assert sim.broadcast(1) == [DISASTER_SSID]
    job = switch(by=hq, on=False)

    assert set(outcomes(job).values()) == {SwitchStatus.CONFIRMED}

    def ifaces(config: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
        return [(name, s) for name, s in config.items() if s[".type"] == "wifi-iface"]

    for ap in AccessPoint.objects.all():
        now, want = sim.ap(number(ap)).committed, before[number(ap)]
        if number(ap) == 1:
            # An anonymous section comes back anonymous, under a new cfg name, same options.
            assert [s for _, s in ifaces(now)] == [s for _, s in ifaces(want)]
            assert [n for n, _ in ifaces(now)][:2] == ["default_radio0", "default_radio1"]
        else:
            assert ifaces(now) == ifaces(want)  # names, options, order: exactly
        assert disaster_mode.ifaces_match(want, now) == ""
        assert ap.mode == Mode.NORMAL
        assert ap.saved_config == {}
        assert ap.config_status == ConfigStatus.APPLIED
    assert sim.broadcast(1) == [DEFAULT_SSID]
    staff = [v for v in sim.ap(1).vifs if v.config["ssid"] == "Toda_Staff"]
    assert staff
    assert staff[0].config["hidden"] is True
    assert staff[0].config["key"]
    assert AccessPoint.objects.get(pk=fleet[0].pk).broadcasting == [DEFAULT_SSID]
    text = ChronologyEntry.objects.filter(text__contains="停止").get().text
    assert text == "00000JAPAN 停止（通常の設定に復旧）: 6/6 台確認"


def test_a_second_switch_on_never_overwrites_the_kept_normal_configuration(
    sim: SimulatorHandle,
    fleet: list[AccessPoint],
    declared: Disaster,
    hq: User,
    switch: Callable[..., Job],
) -> None:
    switch(by=hq)
    kept = {ap.pk: ap.saved_config for ap in AccessPoint.objects.all()}
    commits = {n: sim.ap(n).commits for n in range(1, 7)}
    again = switch(by=hq)
    assert set(outcomes(again).values()) == {SwitchStatus.CONFIRMED}
    assert {ap.pk: ap.saved_config for ap in AccessPoint.objects.all()} == kept
    # Already broadcasting 00000JAPAN as specified: confirmed by a read, nothing applied.
    assert {n: sim.ap(n).commits for n in range(1, 7)} == commits


def test_an_ap_switched_by_hand_gets_its_normal_profiles_back(
    sim: SimulatorHandle, fleet: list[AccessPoint], hq: User, switch: Callable[..., Job]
) -> None:
    AccessPoint.objects.filter(pk=fleet[0].pk).update(mode=Mode.DRILL)  # nothing kept
    job = switch(by=hq, on=False, sites=[fleet[0].site])
    assert outcomes(job) == {fleet[0].name: SwitchStatus.CONFIRMED, fleet[1].name: "skipped"}
    assert AccessPoint.objects.get(pk=fleet[0].pk).broadcasting == [DEFAULT_SSID]


# --- Jobs: progress, idempotence, skips, retries ------------------------------------------------


def test_progress_is_written_as_aps_finish(
    sim: SimulatorHandle,
    fleet: list[AccessPoint],
    declared: Disaster,
    hq: User,
    switch: Callable[..., Job],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    seen: list[tuple[int, int | None, str]] = []
    progress = jobs.JobRun.progress

    def spy(self: jobs.JobRun, done: int, total: int | None = None, message: str = "") -> None:
        seen.append((done, total, message))
        progress(self, done, total, message)

    monkeypatch.setattr(jobs.JobRun, "progress", spy)
    job = switch(by=hq)
    assert seen[0] == (0, 6, "0 of 6 confirmed")
    assert [done for done, *_ in seen] == sorted(done for done, *_ in seen)
    assert seen[-1] == (6, 6, "6 of 6 confirmed")
    assert len(seen) >= 2
    assert (job.done, job.total, job.message) == (6, 6, "6 of 6 confirmed")


def test_running_a_job_again_redoes_only_the_aps_it_had_not_finished(
    sim: SimulatorHandle,
    fleet: list[AccessPoint],
    declared: Disaster,
    hq: User,
    switch: Callable[..., Job],
) -> None:
    job = switch(by=hq)
    commits = {n: sim.ap(n).commits for n in range(1, 7)}
    # The worker died after AP 4's switch had started: the job runs again (a second delivery).
    ApSwitch.objects.filter(job=job, ap=fleet[3]).update(status=SwitchStatus.RUNNING)
    AccessPoint.objects.filter(pk=fleet[3].pk).update(mode=Mode.NORMAL)
    disaster_mode.disaster_mode_run(jobs.JobRun(job), **job.params)
    assert {n: sim.ap(n).commits for n in range(1, 7)} == commits  # nothing applied again
    assert set(outcomes(job).values()) == {SwitchStatus.CONFIRMED}
    assert AccessPoint.objects.get(pk=fleet[3].pk).mode == Mode.DISASTER
    # A finished job is not run at all.
    jobs.execute(str(job.pk))
    assert {n: sim.ap(n).commits for n in range(1, 7)} == commits


def test_aps_that_cannot_be_switched_are_skipped_with_the_reason(
    sim: SimulatorHandle,
    fleet: list[AccessPoint],
    declared: Disaster,
    hq: User,
    switch: Callable[..., Job],
) -> None:
    site = fleet[0].site
    services.ap_create(
        site=site, name="snmp", mac="02:00:00:00:00:99", management_url="udp://192.0.2.9:161",
        driver=Driver.SNMP,
    )  # fmt: skip
    services.ap_update(ap=fleet[1], enabled=False)
    job = switch(by=hq, sites=[site])
    skipped = dict(
        ApSwitch.objects.filter(job=job, status=SwitchStatus.SKIPPED).values_list(
            "ap__name", "error"
        )
    )
    assert skipped == {
        "snmp": "The SNMP driver only monitors: switch this AP by hand.",
        fleet[1].name: "Not managed by Machi (disabled).",
    }
    assert outcomes(job)[fleet[0].name] == SwitchStatus.CONFIRMED
    assert sim.broadcast(2) == [DEFAULT_SSID]
    assert "対象外 2 台" in ChronologyEntry.objects.get(text__contains="開放").text


def test_retrying_a_job_switches_only_the_aps_that_failed(
    facilities: list[Facility],
    declared: Disaster,
    hq: User,
    django_capture_on_commit_callbacks: Any,
) -> None:
    with RunningSimulator(6, faults={2: "down"}) as sim:
        fleet = make_fleet(sim, facilities)
        with django_capture_on_commit_callbacks(execute=True):
            first = disaster_mode.disaster_mode_start(sites="all", on=True, requested_by=hq)
        sim.ap(2).fault = None  # the power is back at that school
        commits = {n: sim.ap(n).commits for n in range(1, 7)}
        with django_capture_on_commit_callbacks(execute=True):
            retry = disaster_mode.disaster_mode_retry(job=first, requested_by=hq)
        assert {n: sim.ap(n).commits for n in range(1, 7) if n != 2} == {
            n: c for n, c in commits.items() if n != 2
        }
        assert sim.broadcast(2) == [DISASTER_SSID]
    assert outcomes(retry) == {fleet[1].name: SwitchStatus.CONFIRMED}
    assert retry.params["retry_of"] == str(first.pk)
    with pytest.raises(services.WifiError):
        disaster_mode.disaster_mode_retry(job=retry, requested_by=hq)  # nothing failed


def test_an_ap_in_another_running_switch_is_not_switched_twice(
    sim: SimulatorHandle,
    fleet: list[AccessPoint],
    declared: Disaster,
    hq: User,
    django_capture_on_commit_callbacks: Any,
) -> None:
    with django_capture_on_commit_callbacks(execute=False):
        first = disaster_mode.disaster_mode_start(sites="all", on=True, requested_by=hq)
    with django_capture_on_commit_callbacks(execute=False):
        second = disaster_mode.disaster_mode_start(sites="all", on=True, requested_by=hq)
    assert ApSwitch.objects.filter(job=first, status=SwitchStatus.QUEUED).count() == 6
    reasons = set(ApSwitch.objects.filter(job=second).values_list("status", "error"))
    assert reasons == {(SwitchStatus.SKIPPED, "Being switched by another job.")}


# --- The responder -------------------------------------------------------------------------------


@pytest.fixture
def city(sim: SimulatorHandle, facilities: list[Facility], settings: Any) -> list[AccessPoint]:
    """Three shelters and the city hall (not a shelter), two APs each, with the responder."""
    settings.MACHI_RESPONDERS = [
        "machi.shelters.responders.respond",
        "machi.wifi.responders.respond",
    ]
    hall = FacilityFactory(municipality=facilities[0].municipality, name="市役所", is_shelter=False)
    return make_fleet(sim, [*facilities, hall], per_site=1)


def test_declaring_opens_00000japan_at_the_shelters_and_ending_restores_it(
    sim: SimulatorHandle,
    city: list[AccessPoint],
    shelters: list[Any],
    hq: User,
    django_capture_on_commit_callbacks: Any,
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        disaster = emergency_services.disaster_declare(
            name="大雨", hazards=[Hazard.FLOOD], declared_by=hq
        )
    run = ResponderRun.objects.get(disaster=disaster, responder="machi.wifi.responders.respond")
    assert run.status == ResponderStatus.SUCCEEDED, run.summary
    assert run.summary.startswith("switching 3 APs at 3 shelter sites to 00000JAPAN")
    assert [sim.broadcast(n) for n in range(1, 5)] == [[DISASTER_SSID]] * 3 + [[DEFAULT_SSID]]
    job = Job.objects.get(pk=run.detail["job"])
    assert job.created_by is None
    assert set(outcomes(job).values()) == {"confirmed"}

    # A second run (a retry, a duplicate delivery) starts nothing more.
    assert responders.respond(disaster, "declared").detail["aps"] == 0
    assert Job.objects.filter(kind="wifi.disaster_mode").count() == 1

    with django_capture_on_commit_callbacks(execute=True):
        emergency_services.disaster_end(disaster=disaster, ended_by=hq)
    ended = ResponderRun.objects.get(disaster=disaster, event="ended", responder__contains="wifi")
    assert ended.status == ResponderStatus.SUCCEEDED, ended.summary
    assert [sim.broadcast(n) for n in range(1, 5)] == [[DEFAULT_SSID]] * 4
    assert set(AccessPoint.objects.values_list("mode", flat=True)) == {Mode.NORMAL}
    assert responders.respond(disaster, "ended").summary.startswith("every AP is in normal")


def test_the_responder_switches_nothing_without_disaster_target_shelters(
    sim: SimulatorHandle, city: list[AccessPoint], hq: User
) -> None:
    Site.objects.update(disaster_target=False)
    disaster = emergency_services.disaster_declare(name="大雨", hazards=["flood"], declared_by=hq)
    outcome = responders.respond(disaster, "declared")
    assert outcome.detail["aps"] == 0
    assert not Job.objects.filter(kind="wifi.disaster_mode").exists()


def test_00000japan_stays_on_while_another_disaster_is_active(
    sim: SimulatorHandle,
    city: list[AccessPoint],
    declared: Disaster,
    hq: User,
    switch: Callable[..., Job],
    django_capture_on_commit_callbacks: Any,
) -> None:
    switch(by=hq)
    with django_capture_on_commit_callbacks(execute=True):
        other = emergency_services.disaster_declare(
            name="地震", hazards=[Hazard.EARTHQUAKE], declared_by=hq
        )
    outcome = responders.respond(other, "ended")
    assert outcome.detail["kept"] is True
    assert sim.broadcast(1) == [DISASTER_SSID]


# --- The page -------------------------------------------------------------------------------------


def test_the_page_refuses_to_open_00000japan_in_normal_times_without_a_drill(
    sim: SimulatorHandle, fleet: list[AccessPoint], hq: User, client: Any
) -> None:
    client.force_login(hq)
    page = client.get("/console/wifi/disaster/").content.decode()
    assert 'id="open-button"' in page
    # The disaster-target sites are chosen first.
    assert page.count('name="on-sites"') == 3
    assert page.count("checked") >= 3
    sites = [str(s.pk) for s in Site.objects.all()]
    response = client.post("/console/wifi/disaster/", {"action": "on", "on-sites": sites})
    assert response.status_code == 400
    body = response.content.decode()
    assert 'id="id_on-drill_error"' in body
    assert "normal times" in body
    # Even a forged confirmation goes through the same rule.
    response = client.post(
        "/console/wifi/disaster/", {"action": "on", "on-sites": sites, "on-confirm": "True"}
    )
    assert response.status_code == 400
    assert not Job.objects.exists()
    assert all(sim.broadcast(number(ap)) == [DEFAULT_SSID] for ap in fleet)


def test_the_page_confirms_then_switches_and_follows_the_job(
    sim: SimulatorHandle,
    fleet: list[AccessPoint],
    declared: Disaster,
    hq: User,
    client: Any,
    django_capture_on_commit_callbacks: Any,
) -> None:
    client.force_login(hq)
    site = fleet[0].site
    ask = client.post("/console/wifi/disaster/", {"action": "on", "on-sites": [site.pk]})
    assert ask.status_code == 200
    body = ask.content.decode()
    assert 'id="confirm-button"' in body
    assert 'name="on-confirm" value="True"' in body
    assert not Job.objects.exists()  # nothing happens before the confirmation
    with django_capture_on_commit_callbacks(execute=True):
        done = client.post(
            "/console/wifi/disaster/",
            {"action": "on", "on-sites": [site.pk], "on-confirm": "True"},
        )
    job = Job.objects.get()
    assert done.status_code == 302
    assert done["Location"] == f"/console/wifi/disaster/jobs/{job.pk}/"
    page = client.get(done["Location"]).content.decode()
    assert fleet[0].name in page
    assert "hx-trigger" not in page
    fragment = client.get(done["Location"], HTTP_HX_REQUEST="true").content.decode()
    assert fragment.lstrip().startswith('<section id="switch-status"')
    assert [sim.broadcast(n) for n in (1, 2, 3)] == [[DISASTER_SSID]] * 2 + [[DEFAULT_SSID]]

    # Restore: the same two steps.
    ask = client.post("/console/wifi/disaster/", {"action": "off"})
    assert 'name="off-sites"' in ask.content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        client.post("/console/wifi/disaster/", {"action": "off", "off-confirm": "True"})
    assert [sim.broadcast(n) for n in (1, 2, 3)] == [[DEFAULT_SSID]] * 3


def test_a_running_job_page_keeps_refreshing(
    sim: SimulatorHandle,
    fleet: list[AccessPoint],
    declared: Disaster,
    hq: User,
    auditor: User,
    counter: User,
    client: Any,
    django_capture_on_commit_callbacks: Any,
) -> None:
    with django_capture_on_commit_callbacks(execute=False):
        job = disaster_mode.disaster_mode_start(sites="all", on=True, requested_by=hq)
    client.force_login(auditor)  # reads every switch, even one started by someone else
    page = client.get(f"/console/wifi/disaster/jobs/{job.pk}/").content.decode()
    assert 'hx-trigger="every 2s"' in page
    assert '<meta http-equiv="refresh"' in page
    assert "/retry/" not in page
    client.force_login(counter)
    assert client.get(f"/console/wifi/disaster/jobs/{job.pk}/").status_code == 403
