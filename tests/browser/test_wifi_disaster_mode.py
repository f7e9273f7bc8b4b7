"""Disaster mode through the pages: HQ opens 00000JAPAN as a drill at the demo city's shelters,
follows the switch as it runs (desktop and phone), and sees the one dead AP fail.

The demo's Wi-Fi (``machi.wifi.demo``) is loaded against a simulator on a free port that reads
the demo's keys file, exactly as ``machi demo`` would run them. Screenshots go to
$MACHI_SCREENSHOT_DIR (``wifi-*.png``) when it is set.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.browser
expect = pytest.importorskip(
    "playwright.sync_api", reason="browser tests need the playwright package"
).expect

PHONE = {"width": 390, "height": 844}
HUNG_AP = 3  # this simulated AP never answers: it fails after its attempts, the others confirm


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def shots(tmp_path: Path) -> Path:
    folder = Path(os.environ.get("MACHI_SCREENSHOT_DIR") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture
def wifi_city(demo_city: Any, settings: Any) -> Iterator[Any]:
    """The demo's Wi-Fi: one simulated AP per shelter and Wi-Fi facility, its simulator up."""
    from machi.wifi.demo import keys_path, load_demo_wifi
    from machi.wifi.simulator import ap_configs, load_keys
    from tests.wifi.test_disaster_mode import RunningSimulator

    port = free_port()
    settings.MACHI_WIFI_SIMULATOR_PORT = port
    settings.MACHI_WIFI_DEMO_APS = 1
    settings.MACHI_WIFI_SWITCH_BACKOFF = 0.05
    settings.MACHI_WIFI_DRIVER_TIMEOUT = 1.5
    load_demo_wifi()
    keys = load_keys(keys_path())
    # Each ubus call takes 0.15 s, so the switch lasts long enough to be watched.
    with RunningSimulator(
        ap_configs(len(keys), keys=keys), port, latency=0.15, faults={HUNG_AP: "timeout"}
    ) as sim:
        yield sim


@dataclass
class Worker:
    threads: list[threading.Thread]
    turn: threading.Lock  # hold it to read the database while the worker runs


@pytest.fixture
def worker(monkeypatch: pytest.MonkeyPatch) -> Iterator[Worker]:
    """A worker beside the web server, as in production: jobs run in a thread of their own
    (the test settings would run them inside the request), so pages can watch one run.

    The test database is SQLite in memory with a shared cache, which fails a reader or a
    writer at once ("table is locked") where SQLite on a file with WAL, as Machi runs, would
    wait. So the worker and the web server take turns: a request holds ``turn`` while it is
    served, the worker while it touches the database (not while it waits for the APs).
    """
    from django.core.handlers.wsgi import WSGIHandler
    from django.db import connections

    from machi.core import jobs
    from machi.wifi import disaster_mode

    turn = threading.Lock()
    threads: list[threading.Thread] = []
    found = Worker(threads, turn)
    serve, take = WSGIHandler.__call__, disaster_mode._Bridge.take

    def serve_in_turn(self: Any, environ: Any, start_response: Any) -> Any:
        with turn:
            return serve(self, environ, start_response)

    def take_out_of_turn(self: Any, timeout: float) -> Any:
        turn.release()
        try:
            return take(self, timeout)
        finally:
            turn.acquire()

    def work(job_id: str) -> None:
        try:
            with turn:
                jobs.execute(job_id)
        finally:
            connections.close_all()

    def enqueue(job_id: str) -> None:
        thread = threading.Thread(target=work, args=(job_id,), daemon=True)
        threads.append(thread)
        thread.start()

    monkeypatch.setattr(WSGIHandler, "__call__", serve_in_turn)
    monkeypatch.setattr(disaster_mode._Bridge, "take", take_out_of_turn)
    monkeypatch.setattr(jobs, "run_job", enqueue)
    yield found
    for thread in threads:
        thread.join(60)


def test_hq_opens_00000japan_as_a_drill_and_follows_it(
    new_context: Callable[..., Any],
    wifi_city: Any,
    worker: Worker,
    sign_in: Callable[[Any, str], None],
    assert_accessible: Callable[[Any], None],
    shots: Path,
) -> None:
    from machi.core.models import Job
    from machi.wifi.models import AccessPoint, SwitchStatus

    total = AccessPoint.objects.filter(site__disaster_target=True).count()  # chosen first
    hq = new_context(bypass_csp=True).new_page()
    sign_in(hq, "hq")
    hq.goto("/console/wifi/disaster/")
    expect(hq.get_by_role("heading", level=1)).to_contain_text("00000JAPAN")
    assert_accessible(hq)
    hq.screenshot(path=str(shots / "wifi-disaster-desktop.png"), full_page=True)

    # Normal times: opening without 訓練 is refused on the drill field.
    hq.locator("#open-button").click()
    expect(hq.locator("#id_on-drill_error")).to_be_visible()
    expect(hq.locator(".error-summary")).to_be_visible()
    assert_accessible(hq)
    hq.screenshot(path=str(shots / "wifi-disaster-refused-desktop.png"), full_page=True)

    # As a drill, with a confirmation step.
    hq.locator("#id_on-drill").check()
    hq.locator("#open-button").click()
    expect(hq.locator("#confirm-button")).to_be_visible()
    assert_accessible(hq)
    hq.screenshot(path=str(shots / "wifi-confirm-desktop.png"), full_page=True)
    assert not Job.objects.exists()

    # Two more people will watch: signed in now, since signing in writes to the database.
    watcher = new_context(bypass_csp=True).new_page()
    sign_in(watcher, "auditor")  # auditors follow every switch, read-only
    phone = new_context(viewport=PHONE).new_page()
    sign_in(phone, "wifi")

    # The worker takes the job; HQ's page follows it, and so do a desktop and a phone.
    hq.locator("#confirm-button").click()
    hq.wait_for_url("**/console/wifi/disaster/jobs/*/")
    deadline = time.monotonic() + 20
    with worker.turn:
        job = Job.objects.get(kind="wifi.disaster_mode")
    while time.monotonic() < deadline:
        with worker.turn:
            job.refresh_from_db()
        if job.done > 0:
            break
        time.sleep(0.1)
    assert 0 < job.done < (job.total or 0), "the switch ended too soon to watch"
    url = f"/console/wifi/disaster/jobs/{job.pk}/"
    watcher.goto(url)
    expect(watcher.locator("#switch-status")).to_have_attribute("hx-trigger", "every 2s")
    expect(watcher.locator(".status--open").first).to_be_visible()  # some confirmed already
    watcher.screenshot(path=str(shots / "wifi-job-running-desktop.png"), full_page=True)
    phone.goto(url)
    expect(phone.locator("#switch-status")).to_be_visible()
    phone.screenshot(path=str(shots / "wifi-job-running-phone.png"), full_page=True)
    width = phone.evaluate("() => document.documentElement.scrollWidth")
    assert width <= PHONE["width"] + 1, f"the job page is {width} px wide on a phone"

    # The watcher's page updates itself until the switch is done.
    expect(watcher.locator("#switch-status")).not_to_have_attribute(
        "hx-trigger", "every 2s", timeout=30_000
    )
    expect(watcher.locator(".stats__value--alert")).to_have_text("1")
    for thread in worker.threads:
        thread.join(30)
    job.refresh_from_db()
    hq.reload()
    assert (job.status, job.done, job.total) == ("succeeded", total, total)
    statuses = list(job.ap_switches.values_list("status", flat=True))
    assert statuses.count(SwitchStatus.CONFIRMED) == total - 1
    assert statuses.count(SwitchStatus.FAILED) == 1
    assert wifi_city.broadcast(1) == ["00000JAPAN"]
    assert wifi_city.broadcast(HUNG_AP) == ["Toda_Free_Wi-Fi"]
    expect(hq.locator("form[action$='/retry/'] button")).to_be_visible()
    assert_accessible(hq)
    hq.screenshot(path=str(shots / "wifi-job-done-desktop.png"), full_page=True)
    watcher.screenshot(path=str(shots / "wifi-job-done-watcher-desktop.png"))

    # The disaster-mode page lists the APs now in drill mode, on a phone too.
    phone.goto("/console/wifi/disaster/")
    expect(phone.locator("#open-button")).to_be_visible()
    expect(phone.locator("#restore-button")).to_be_visible()
    phone.screenshot(path=str(shots / "wifi-disaster-phone.png"), full_page=True)
    width = phone.evaluate("() => document.documentElement.scrollWidth")
    assert width <= PHONE["width"] + 1, f"the disaster-mode page is {width} px wide on a phone"

    # The registry shows each AP's mode and what it was confirmed to broadcast.
    phone.goto("/console/wifi/")
    expect(phone.get_by_text("00000JAPAN", exact=True).first).to_be_visible()
    phone.screenshot(path=str(shots / "wifi-index-phone.png"))
    width = phone.evaluate("() => document.documentElement.scrollWidth")
    assert width <= PHONE["width"] + 1, f"the Wi-Fi page is {width} px wide on a phone"
    hq.goto("/console/wifi/")
    assert_accessible(hq)
    hq.screenshot(path=str(shots / "wifi-index-desktop.png"))
