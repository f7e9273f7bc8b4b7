"""Alerts: a silent AP is unreachable within a minute, lasting trouble opens an alert, the
condition's end clears it, and the Wi-Fi administrators get one e-mail for many APs (through a
real SMTP server on the loopback)."""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.core.cache import cache
from django.test import Client
from django.utils import timezone

from machi.core.models import Facility, User
from machi.core.roles import Role
from machi.emergency.models import ChronologyEntry
from machi.wifi import services_monitor, tasks
from machi.wifi.models import AccessPoint, AlertKind, ConfigStatus, Health, Site, WifiAlert
from tests.wifi.smtp_fixture import SmtpSink, smtp_server  # noqa: F401 - the fixture
from tests.wifi.test_monitoring import make_ap, netjson, push


@pytest.fixture(autouse=True)
def _fresh_process_state() -> Iterator[None]:
    services_monitor.forget_process_state()
    yield
    services_monitor.forget_process_state()


@pytest.fixture
def site(facilities: list[Facility]) -> Site:
    return Site.objects.create(facility=facilities[0])


@pytest.fixture
def ap(site: Site) -> AccessPoint:
    return make_ap(site, 1)


@pytest.fixture
def wifi_admin(make_staff: Callable[..., User]) -> User:
    return make_staff(Role.WIFI_ADMIN, username="wifi", email="wifi@city.example.jp")


SILENCE = dt.timedelta(seconds=30)


def seconds(n: float) -> dt.timedelta:
    return dt.timedelta(seconds=n)


def open_alerts(kind: str = AlertKind.UNREACHABLE) -> list[int]:
    return sorted(
        WifiAlert.objects.filter(kind=kind, cleared_at__isnull=True).values_list("ap_id", flat=True)
    )


# --- Silence ---------------------------------------------------------------------------------


def test_an_ap_silent_for_30_seconds_is_critical_with_an_alert(
    client: Client, site: Site, ap: AccessPoint
) -> None:
    push(client, ap, netjson())
    ap.refresh_from_db()
    assert ap.last_seen_at is not None
    last = ap.last_seen_at
    assert services_monitor.sweep_silence(last + seconds(29)) == []
    assert services_monitor.sweep_silence(last + seconds(31)) == [ap.pk]
    ap.refresh_from_db()
    assert (ap.health, ap.health_reason) == (Health.CRITICAL, "unreachable: no report")
    alert = WifiAlert.objects.get(ap=ap)
    assert (alert.kind, alert.cleared_at, alert.notified_at) == (AlertKind.UNREACHABLE, None, None)
    # Idempotent: the next sweeps change nothing.
    assert services_monitor.sweep_silence(last + seconds(41)) == []
    assert WifiAlert.objects.count() == 1


def test_the_sweep_every_10_seconds_sees_a_dead_ap_within_a_minute(
    client: Client, ap: AccessPoint
) -> None:
    """The worker sweeps every 10 s: whenever the AP dies between two sweeps, its alert is
    open at most silence + 10 s after its last report (target 60 s; OpenWISP: 30 minutes)."""
    push(client, ap, netjson())
    ap.refresh_from_db()
    assert ap.last_seen_at is not None
    last = ap.last_seen_at
    for offset in (0.0, 3.3, 6.6, 9.9):  # where the AP's last report fell between two sweeps
        WifiAlert.objects.all().delete()
        AccessPoint.objects.filter(pk=ap.pk).update(health=Health.OK)
        sweep = last - seconds(offset)
        while not open_alerts():
            sweep += seconds(10)
            services_monitor.monitor_pass(sweep)
        assert (sweep - last).total_seconds() <= SILENCE.total_seconds() + 10 <= 60


def test_a_report_clears_the_unreachable_alert(client: Client, ap: AccessPoint) -> None:
    push(client, ap, netjson())
    services_monitor.sweep_silence(timezone.now() + seconds(31))
    assert open_alerts() == [ap.pk]
    response = push(client, ap, netjson())
    assert response.json()["health"] == Health.OK
    ap.refresh_from_db()
    assert ap.health == Health.OK
    alert = WifiAlert.objects.get(ap=ap)
    assert alert.cleared_at is not None
    assert open_alerts() == []
    # Silent again later: a new alert, the old one stays in the history.
    services_monitor.sweep_silence(timezone.now() + seconds(31))
    assert WifiAlert.objects.filter(ap=ap).count() == 2


def test_an_ap_heard_during_the_sweep_is_not_marked(ap: AccessPoint) -> None:
    now = timezone.now()
    AccessPoint.objects.filter(pk=ap.pk).update(last_seen_at=now, health=Health.OK)
    marked = services_monitor.ap_unreachable(
        ap_ids=[ap.pk], reason="unreachable: no report", not_seen_since=now - SILENCE, now=now
    )
    assert marked == []
    assert not WifiAlert.objects.exists()


def test_only_managed_aps_that_push_and_have_reported_are_swept(site: Site) -> None:
    long_ago = timezone.now() - dt.timedelta(hours=1)
    pushing = make_ap(site, 1, last_seen_at=long_ago, health=Health.OK)
    make_ap(site, 2, enabled=False, last_seen_at=long_ago, health=Health.OK)
    make_ap(site, 3, key=None, last_seen_at=long_ago, health=Health.OK)  # checked by SNMP/ping
    make_ap(site, 4)  # never reported: UNKNOWN
    assert services_monitor.sweep_silence() == [pushing.pk]


def test_passes_never_overlap(db: None) -> None:
    assert cache.add(services_monitor.SWEEP_LOCK, 1, timeout=30)
    try:
        assert not services_monitor.monitor_pass().ran
    finally:
        cache.delete(services_monitor.SWEEP_LOCK)
    assert services_monitor.monitor_pass().ran


def test_the_minute_task_sweeps_now_and_plans_five_more_passes(
    client: Client, ap: AccessPoint
) -> None:
    from huey.contrib.djhuey import HUEY

    HUEY.flush()
    AccessPoint.objects.filter(pk=ap.pk).update(
        last_seen_at=timezone.now() - seconds(45), health=Health.OK
    )
    try:
        tasks.wifi_monitor_minute.call_local()
        assert open_alerts() == [ap.pk]
        planned = sorted(HUEY.scheduled(), key=lambda task: task.eta)
        assert [task.name for task in planned] == ["wifi_monitor_pass"] * 5
        gaps = [(b.eta - a.eta).total_seconds() for a, b in itertools.pairwise(planned)]
        assert gaps == pytest.approx([10.0] * 4, abs=0.5)
        assert all(task.expires_resolved is not None for task in planned)
    finally:
        HUEY.flush()


# --- Conditions that must last ----------------------------------------------------------------


def _phones(n: int) -> list[str]:
    return [f"a2:00:00:00:{i // 256:02x}:{i % 256:02x}" for i in range(n)]


def test_too_many_clients_for_10_minutes_opens_an_alert_and_fewer_clear_it(
    client: Client, ap: AccessPoint
) -> None:
    push(client, ap, netjson(clients=_phones(60)))
    start = timezone.now()
    assert services_monitor.sweep_conditions(start)[AlertKind.CLIENTS] == []
    assert (
        services_monitor.sweep_conditions(start + dt.timedelta(minutes=9))[AlertKind.CLIENTS] == []
    )
    opened = services_monitor.sweep_conditions(start + dt.timedelta(minutes=10))
    assert opened[AlertKind.CLIENTS] == [ap.pk]
    assert WifiAlert.objects.get(kind=AlertKind.CLIENTS).detail == "clients 60 > 50"
    push(client, ap, netjson(clients=_phones(20)))
    services_monitor.sweep_conditions(start + dt.timedelta(minutes=11))
    assert open_alerts(AlertKind.CLIENTS) == []


def test_a_short_crowd_opens_no_alert(client: Client, ap: AccessPoint) -> None:
    start = timezone.now()
    push(client, ap, netjson(clients=_phones(60)))
    services_monitor.sweep_conditions(start)
    push(client, ap, netjson(clients=_phones(10)))
    services_monitor.sweep_conditions(start + dt.timedelta(minutes=5))
    push(client, ap, netjson(clients=_phones(60)))
    services_monitor.sweep_conditions(start + dt.timedelta(minutes=6))
    # Over again since minute 6: the clock restarted, no alert at minute 12.
    assert (
        services_monitor.sweep_conditions(start + dt.timedelta(minutes=12))[AlertKind.CLIENTS] == []
    )


def test_memory_or_load_for_5_minutes_opens_a_resources_alert(
    client: Client, ap: AccessPoint
) -> None:
    push(client, ap, netjson(free=1_000_000, available=2_000_000))
    start = timezone.now()
    services_monitor.sweep_conditions(start)
    assert services_monitor.sweep_conditions(start + dt.timedelta(minutes=5))[
        AlertKind.RESOURCES
    ] == [ap.pk]
    push(client, ap, netjson())
    services_monitor.sweep_conditions(start + dt.timedelta(minutes=6))
    assert open_alerts(AlertKind.RESOURCES) == []


def test_a_configuration_not_applied_for_2_minutes_opens_an_alert(ap: AccessPoint) -> None:
    AccessPoint.objects.filter(pk=ap.pk).update(config_status=ConfigStatus.ERROR)
    start = timezone.now()
    services_monitor.sweep_conditions(start)
    assert open_alerts(AlertKind.CONFIG) == []
    services_monitor.sweep_conditions(start + dt.timedelta(minutes=2))
    assert open_alerts(AlertKind.CONFIG) == [ap.pk]
    AccessPoint.objects.filter(pk=ap.pk).update(config_status=ConfigStatus.APPLIED)
    services_monitor.sweep_conditions(start + dt.timedelta(minutes=3))
    assert open_alerts(AlertKind.CONFIG) == []


def test_alert_delays_come_from_settings(client: Client, ap: AccessPoint, settings: Any) -> None:
    settings.MACHI_WIFI_CLIENTS_ALERT_MINUTES = 0
    push(client, ap, netjson(clients=_phones(60)))
    assert services_monitor.sweep_conditions()[AlertKind.CLIENTS] == [ap.pk]


# --- E-mail --------------------------------------------------------------------------------------


@pytest.fixture
def admins(make_staff: Callable[..., User], wifi_admin: User) -> list[User]:
    second = make_staff(Role.WIFI_ADMIN, username="wifi2", email="wifi2@city.example.jp")
    make_staff(Role.WIFI_ADMIN, username="wifi3")  # no address: cannot be told
    make_staff(Role.WIFI_ADMIN, username="gone", email="gone@city.example.jp", is_active=False)
    make_staff(Role.HQ, username="hq-mail", email="hq@city.example.jp")  # not Wi-Fi
    return [wifi_admin, second]


def _power_cut(facilities: list[Facility], aps: int = 30) -> tuple[Site, list[AccessPoint]]:
    """A shelter's power goes: its 30 APs stop reporting within one report interval."""
    gym = Site.objects.create(facility=facilities[2])
    now = timezone.now()
    found = [
        make_ap(
            gym,
            n,
            health=Health.OK,
            last_seen_at=now - SILENCE - seconds(1 + n % 10),
        )
        for n in range(1, aps + 1)
    ]
    return gym, found


def test_a_power_cut_sends_one_mail_to_the_wifi_administrators(
    smtp_server: SmtpSink,  # noqa: F811 - the fixture
    admins: list[User],
    facilities: list[Facility],
    django_capture_on_commit_callbacks: Any,
) -> None:
    gym, silent = _power_cut(facilities)
    now = timezone.now()
    with django_capture_on_commit_callbacks(execute=True):
        first = services_monitor.monitor_pass(now)
    assert sorted(first.unreachable) == sorted(a.pk for a in silent)
    assert not first.notify  # the alerts opened with these may still come: wait 10 s
    assert smtp_server.received == []
    with django_capture_on_commit_callbacks(execute=True):
        second = services_monitor.monitor_pass(now + seconds(10))
    assert second.notify
    assert len(smtp_server.received) == 1
    mail = smtp_server.received[0]
    assert sorted(mail.rcpt_tos) == ["wifi2@city.example.jp", "wifi@city.example.jp"]
    assert "30" in mail.subject
    assert str(gym) in mail.subject
    for silent_ap in silent:
        assert silent_ap.name in mail.text
    assert "/console/wifi/monitor/" in mail.text
    assert not WifiAlert.objects.filter(notified_at__isnull=True).exists()
    # Told once: later passes send nothing more.
    with django_capture_on_commit_callbacks(execute=True):
        services_monitor.monitor_pass(now + seconds(20))
        services_monitor.monitor_pass(now + seconds(30))
    assert len(smtp_server.received) == 1


def test_a_failed_mail_is_logged_retried_later_and_never_blocks_reports(
    smtp_server: SmtpSink,  # noqa: F811 - the fixture
    admins: list[User],
    client: Client,
    ap: AccessPoint,
    caplog: pytest.LogCaptureFixture,
    django_capture_on_commit_callbacks: Any,
) -> None:
    push(client, ap, netjson())
    later = timezone.now() + seconds(31)
    services_monitor.sweep_silence(later)
    smtp_server.refuse = True
    with django_capture_on_commit_callbacks(execute=True):
        assert services_monitor.monitor_pass(later + seconds(10)).notify
    assert smtp_server.received == []
    assert "could not be sent" in caplog.text
    assert WifiAlert.objects.get(ap=ap).notified_at is None
    # Reports are accepted meanwhile; the alert stays open while the AP is silent.
    other = make_ap(ap.site, 2, key="machiap_other")
    assert push(client, other, netjson(), key="machiap_other").status_code == 200
    # Backing off: the next passes do not try again at once…
    with django_capture_on_commit_callbacks(execute=True):
        assert not services_monitor.monitor_pass(later + seconds(20)).notify
    # …but after the back-off the mail goes.
    smtp_server.refuse = False
    cache.delete(services_monitor.NOTIFY_BACKOFF_KEY)
    with django_capture_on_commit_callbacks(execute=True):
        assert services_monitor.monitor_pass(later + seconds(80)).notify
    assert len(smtp_server.received) == 1
    assert WifiAlert.objects.get(ap=ap).notified_at is not None


def test_an_alert_that_cleared_before_its_mail_is_not_sent(
    smtp_server: SmtpSink,  # noqa: F811 - the fixture
    admins: list[User],
    client: Client,
    ap: AccessPoint,
) -> None:
    push(client, ap, netjson())
    services_monitor.sweep_silence(timezone.now() + seconds(31))
    push(client, ap, netjson())  # back within seconds (a reboot)
    assert services_monitor.alerts_notify() == 0
    assert smtp_server.received == []


def test_without_any_address_the_alerts_are_marked_and_logged(
    smtp_server: SmtpSink,  # noqa: F811 - the fixture
    ap: AccessPoint,
    caplog: pytest.LogCaptureFixture,
) -> None:
    AccessPoint.objects.filter(pk=ap.pk).update(
        last_seen_at=timezone.now() - seconds(60), health=Health.OK
    )
    services_monitor.sweep_silence()
    assert services_monitor.alerts_notify() == 1
    assert smtp_server.received == []
    assert "no active Wi-Fi administrator" in caplog.text


def test_in_a_disaster_hq_s_timeline_says_which_aps_went_silent(
    smtp_server: SmtpSink,  # noqa: F811 - the fixture
    admins: list[User],
    hq: User,
    ap: AccessPoint,
) -> None:
    from machi.emergency.services import disaster_declare

    disaster = disaster_declare(name="令和元年東日本台風", hazards=["flood"], declared_by=hq)
    AccessPoint.objects.filter(pk=ap.pk).update(
        last_seen_at=timezone.now() - seconds(60), health=Health.OK
    )
    services_monitor.sweep_silence()
    services_monitor.alerts_notify()
    lines = ChronologyEntry.objects.filter(disaster=disaster, text__contains=ap.name)
    assert lines.count() == 1
