"""Disaster mode: every chosen AP broadcasts 00000JAPAN, confirmed by reading it back; and back.

The rules (無線LANビジネス推進連絡会「大規模災害発生時における公衆無線LAN の無料開放に関する
ガイドライン」v4.2, and docs/domain wifi notes):

* 00000JAPAN is **never broadcast in normal times**. Switching ON needs a declared disaster, or
  is a drill (訓練), recorded as such. The rule is checked here when a switch is asked for
  (:func:`disaster_mode_check`, used by the page, the API and the responder), and again by the
  job runner just before any AP is touched, because a job may wait in the queue.
* It is **open**: no authentication, no encryption (an OWE companion is an opt-in extra).
* A switch is **confirmed by read-back**, never inferred: an AP counts as switched only when a
  fresh ``read()`` shows it broadcasting exactly 00000JAPAN with the profile's client isolation
  and client cap (OpenWISP's users' top complaint is configs shown "applied" that were not).
* Before the first switch the AP's wireless configuration is read and kept
  (``AccessPoint.saved_config``), written to the database **before** anything is applied; a
  configuration is kept only while the AP is in normal mode and none is kept yet, so a
  disaster configuration never overwrites the normal one. Switching OFF writes the kept
  sections back and confirms that the AP's sections now equal them exactly. An AP with nothing
  kept (switched by hand) is given its normal profiles instead.

One switch is one core Job (visible progress) with one ``ApSwitch`` per AP. The runner talks to
every AP at once from an asyncio loop (at most ``MACHI_WIFI_SWITCH_CONCURRENCY``, default 200,
at a time) in a thread of its own; the job's thread does every database write, in batches, as
APs finish. Each AP gets ``MACHI_WIFI_SWITCH_ATTEMPTS`` (3) attempts with exponential backoff
from ``MACHI_WIFI_SWITCH_BACKOFF`` (2 s) on a driver error or a read-back that does not match.
Running a job again (a duplicated delivery) redoes only the APs it had not finished.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any, Literal

from django.conf import settings
from django.db import connections, router, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from machi.core import crypto, jobs
from machi.core import services as core_services
from machi.core.models import Job, User
from machi.core.roles import Action
from machi.emergency import selectors as emergency_selectors
from machi.emergency.models import ChronologyKind, Disaster
from machi.wifi import selectors
from machi.wifi.drivers.base import ApDriver, DriverError, SsidSpec, Target, WirelessState
from machi.wifi.models import (
    DISASTER_SSID,
    AccessPoint,
    ApSwitch,
    ConfigStatus,
    Driver,
    Mode,
    Site,
    SsidProfile,
    SwitchDirection,
    SwitchStatus,
)
from machi.wifi.services import WifiError

logger = logging.getLogger(__name__)

JOB_KIND = selectors.JOB_KIND
RESOURCE = selectors.DISASTER_MODE


def _setting(name: str, default: Any) -> Any:
    return getattr(settings, name, default)


class DisasterModeRefused(WifiError):
    """Switching ON refused: no disaster is declared and this is not a drill."""


# --- Asking for a switch --------------------------------------------------------------------------


def _active_disaster() -> Disaster | None:
    # Asked afresh, not through the few-second memo of disaster_current(): a worker that read
    # "no disaster" a moment before the declaration must not refuse the responder's switch.
    return emergency_selectors.disasters_active().first()


def disaster_mode_check(*, on: bool, drill: bool) -> Disaster | None:
    """The active disaster (or None), or DisasterModeRefused when ON is not allowed now."""
    disaster = _active_disaster()
    if on and not drill and disaster is None:
        raise DisasterModeRefused(
            _(
                "No disaster is declared: 00000JAPAN is never broadcast in normal times. "
                "Tick “Drill (訓練)” to practise the switch."
            ),
            field="drill",
        )
    return disaster


def _skip_reason(ap: AccessPoint, *, on: bool, busy: set[int]) -> str:
    if not ap.enabled:
        return _("Not managed by Machi (disabled).")
    if ap.driver == Driver.SNMP:
        return _("The SNMP driver only monitors: switch this AP by hand.")
    if ap.pk in busy:
        return _("Being switched by another job.")
    if not on and ap.mode == Mode.NORMAL and not ap.saved_config:
        return _("Already in normal mode.")
    return ""


def _title(*, on: bool, drill: bool) -> str:
    if on:
        return _("Open 00000JAPAN (drill)") if drill else _("Open 00000JAPAN")
    return _("Restore normal Wi-Fi (end 00000JAPAN)")


def disaster_mode_start(
    *,
    sites: Sequence[Site] | Literal["all"],
    on: bool,
    requested_by: User | None,
    drill: bool = False,
) -> Job:
    """Switch the APs of these sites to 00000JAPAN (``on``) or back, as a job.

    Refuses ON without a declared disaster unless ``drill``; a disaster declared as an
    exercise makes the switch a drill. APs that cannot be switched (SNMP, not managed, already
    in another running switch, already normal for OFF) get a skipped ``ApSwitch`` with the
    reason. The worker starts after the transaction commits.
    """
    disaster = disaster_mode_check(on=on, drill=drill)
    if sites == "all":
        aps = AccessPoint.objects.all()
    else:
        site_ids = [site.pk for site in sites]
        if not site_ids:
            raise WifiError(_("Choose at least one site."), field="sites")
        aps = AccessPoint.objects.filter(site_id__in=site_ids)
    return _start(aps=aps, on=on, drill=drill, requested_by=requested_by, disaster=disaster)


def disaster_mode_retry(*, job: Job, requested_by: User | None) -> Job:
    """A new job for the APs that failed in ``job`` only (same direction, same drill flag)."""
    if job.kind != JOB_KIND:
        raise WifiError(_("This is not a disaster-mode job."))
    on = job.params.get("direction") == SwitchDirection.ON
    drill = bool(job.params.get("drill"))
    disaster = disaster_mode_check(on=on, drill=drill)
    failed = selectors.failed_ap_ids(job)
    if not failed:
        raise WifiError(_("No access point failed in this job."))
    return _start(
        aps=AccessPoint.objects.filter(pk__in=failed),
        on=on,
        drill=drill,
        requested_by=requested_by,
        disaster=disaster,
        retry_of=job,
    )


def _start(
    *,
    aps: Any,
    on: bool,
    drill: bool,
    requested_by: User | None,
    disaster: Disaster | None,
    retry_of: Job | None = None,
) -> Job:
    from machi.wifi import jobs as _registers_the_job_kind  # noqa: F401

    if on and disaster is not None and disaster.is_exercise:
        drill = True  # a declared exercise (訓練) switches as a drill
    if on and selectors.disaster_profile() is None:
        raise WifiError(
            _("There is no 00000JAPAN profile yet: add the disaster SSID profile first."),
            field="sites",
        )
    direction = SwitchDirection.ON if on else SwitchDirection.OFF
    with transaction.atomic():
        chosen = list(aps.select_related("site").order_by("pk"))
        if not chosen:
            raise WifiError(_("There are no access points at these sites."), field="sites")
        busy = selectors.ap_ids_busy()
        job = core_services.job_start(
            kind=JOB_KIND,
            title=_title(on=on, drill=drill),
            created_by=requested_by,
            direction=direction.value,
            drill=drill,
            disaster_id=disaster.pk if disaster is not None else None,
            retry_of=str(retry_of.pk) if retry_of is not None else None,
        )
        switches = []
        for ap in chosen:
            reason = _skip_reason(ap, on=on, busy=busy)
            switches.append(
                ApSwitch(
                    job=job,
                    ap=ap,
                    direction=direction,
                    status=SwitchStatus.SKIPPED if reason else SwitchStatus.QUEUED,
                    error=reason[:300],
                    drill=drill,
                    requested_by=requested_by,
                )
            )
        ApSwitch.objects.bulk_create(switches, batch_size=500)
        queued = sum(1 for s in switches if s.status == SwitchStatus.QUEUED)
        core_services.audit_record(
            action=Action.UPDATE,
            object_type=RESOURCE,
            detail={
                "job": str(job.pk),
                "direction": direction.value,
                "drill": drill,
                "disaster": disaster.pk if disaster is not None else None,
                "sites": sorted({ap.site_id for ap in chosen}),
                "aps": queued,
                "skipped": len(switches) - queued,
                **({"retry_of": str(retry_of.pk)} if retry_of is not None else {}),
            },
            actor=requested_by,
        )
    return job


# --- What is expected of an AP ------------------------------------------------------------------


def disaster_spec(profile: SsidProfile) -> SsidSpec:
    """00000JAPAN as the profile says: open, isolation and client cap as configured."""
    return SsidSpec(
        ssid=DISASTER_SSID,
        encryption="none",
        key="",
        hidden=False,
        isolate=profile.isolate,
        max_clients=profile.max_clients,
        owe_companion=profile.owe_companion,
    )


def profile_spec(profile: SsidProfile) -> SsidSpec:
    return SsidSpec(
        ssid=profile.ssid,
        encryption=profile.encryption,
        key=crypto.decrypt(profile.key_encrypted),
        hidden=profile.hidden,
        isolate=profile.isolate,
        max_clients=profile.max_clients,
    )


def disaster_mismatch(state: WirelessState, expected: SsidSpec) -> str:
    """Why the read-back is not exactly 00000JAPAN as expected, or "" when it is.

    Drivers report an OWE transition pair as one SSID with ``owe_companion``; any other hidden
    SSID still on air is a leftover of the normal configuration, and fails the check.
    """
    names = sorted({s.ssid for s in state.ssids})
    if names != [DISASTER_SSID]:
        return f"read back {', '.join(names) or 'nothing'}, not {DISASTER_SSID} alone"
    for spec in state.ssids:
        if spec.hidden:
            return f"{DISASTER_SSID} is hidden"
        if spec.encryption != "none":
            return f"{DISASTER_SSID} is not open (encryption {spec.encryption})"
        if spec.isolate != expected.isolate:
            return f"client isolation is {'on' if spec.isolate else 'off'}"
        if spec.max_clients != expected.max_clients:
            return f"client cap is {spec.max_clients}, not {expected.max_clients}"
        if spec.owe_companion != expected.owe_companion:
            return "the OWE companion is " + ("missing" if expected.owe_companion else "on")
    return ""


def config_to_store(sections: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The sections of a read, for ``saved_config``: their order kept in ``.index`` (UCI's own
    bookkeeping name), because PostgreSQL's jsonb does not keep the order of keys."""
    return {name: {**section, ".index": n} for n, (name, section) in enumerate(sections.items())}


def config_from_store(stored: dict[str, Any]) -> dict[str, dict[str, Any]]:
    ordered = sorted(stored.items(), key=lambda item: int(item[1].get(".index", 0)))
    return {name: {k: v for k, v in section.items() if k != ".index"} for name, section in ordered}


def ifaces_match(saved: dict[str, dict[str, Any]], now: dict[str, dict[str, Any]]) -> str:
    """ "" when the AP's wifi-iface sections are exactly the saved ones, else what differs.

    The radios (wifi-device) are not compared: a restore writes the interfaces only, and a
    channel changed meanwhile is not the switch's business. Anonymous sections (cfgXXXXXX)
    come back under new names, so they are compared by position and content; named sections
    by name too.
    """

    def ifaces(sections: dict[str, dict[str, Any]]) -> list[tuple[str, dict[str, Any]]]:
        return [
            ("" if section.get(".anonymous") else name, section)
            for name, section in sections.items()
            if section.get(".type") == "wifi-iface"
        ]

    want, got = ifaces(saved), ifaces(now)
    if len(want) != len(got):
        return f"{len(got)} wireless interfaces read back, {len(want)} saved"
    for (want_name, want_section), (got_name, got_section) in zip(want, got, strict=True):
        if want_name != got_name or want_section != got_section:
            label = want_name or want_section.get("ssid", "?")
            return f"interface {label} differs from the saved configuration"
    return ""


def _normal_mismatch(state: WirelessState, expected: list[SsidSpec]) -> str:
    want = sorted({s.ssid for s in expected if not s.hidden})
    got = sorted(set(state.broadcasting()))
    if got != want:
        return f"read back {', '.join(got) or 'nothing'}, not {', '.join(want) or 'nothing'}"
    return ""


# --- The runner -------------------------------------------------------------------------------


@dataclass
class _Work:
    """One AP's part, with everything the loop needs (it never touches the database)."""

    switch_id: int
    ap_id: int
    driver: str
    target: Target
    attempts_before: int
    keep_config: bool = False  # ON: the read may be kept as the AP's normal configuration
    saved: dict[str, dict[str, Any]] = field(default_factory=dict)  # OFF: to write back
    normal: list[SsidSpec] = field(default_factory=list)  # OFF, when nothing was kept


@dataclass
class _Result:
    switch_id: int
    ap_id: int
    confirmed: bool
    attempts: int
    error: str = ""
    broadcasting: list[str] = field(default_factory=list)
    at: Any = None


class _Bridge:
    """The loop's way to the database: messages to the job's thread, which writes them."""

    def __init__(self) -> None:
        self.messages: queue.SimpleQueue[tuple[str, Any]] = queue.SimpleQueue()
        self.done = threading.Event()
        self.cancelled = threading.Event()  # the job's thread gave up: touch no more APs

    def started(self, switch_id: int, attempt: int) -> None:
        self.messages.put(("started", (switch_id, attempt)))

    def keep(self, ap_id: int, sections: dict[str, dict[str, Any]]) -> Future[None]:
        """Ask for the AP's configuration to be stored; the future settles once it is."""
        future: Future[None] = Future()
        self.messages.put(("keep", (ap_id, sections, future)))
        return future

    def finished(self, result: _Result) -> None:
        self.messages.put(("finished", result))

    def take(self, timeout: float) -> list[tuple[str, Any]]:
        try:
            batch = [self.messages.get(timeout=timeout)]
        except queue.Empty:
            return []
        while True:
            try:
                batch.append(self.messages.get_nowait())
            except queue.Empty:
                return batch


DriverFactory = Callable[[str], ApDriver]


def _default_driver_for(name: str) -> ApDriver:
    from machi.wifi.drivers.registry import driver_for

    return driver_for(name)


async def _close(driver: ApDriver) -> None:
    from machi.wifi.drivers.registry import close_driver

    await close_driver(driver)


async def _call(what: Awaitable[Any], timeout: float) -> Any:
    """A driver call with an outer time limit, so one AP that hangs never holds the job."""
    try:
        return await asyncio.wait_for(what, timeout)
    except TimeoutError as exc:
        raise DriverError("timed out") from exc


async def _switch_one(
    work: _Work,
    *,
    on: bool,
    expected: SsidSpec | None,
    driver: ApDriver,
    bridge: _Bridge,
    limit: asyncio.Semaphore,
    attempts: int,
    backoff: float,
) -> None:
    problem = ""
    attempt = work.attempts_before
    async with limit:
        for number in range(1, attempts + 1):
            if bridge.cancelled.is_set():
                return
            attempt = work.attempts_before + number
            bridge.started(work.switch_id, attempt)
            limit_s = max(work.target.timeout * 3, 1.0)
            try:
                if expected is not None:  # ON
                    state = await _call(driver.read(work.target), limit_s)
                    if work.keep_config and DISASTER_SSID not in {s.ssid for s in state.ssids}:
                        # Stored before anything changes on the AP: if the worker dies after
                        # apply(), the normal configuration is still known.
                        kept = config_to_store(state.sections)
                        await asyncio.wrap_future(bridge.keep(work.ap_id, kept))
                        work.keep_config = False
                    if disaster_mismatch(state, expected):
                        await _call(driver.apply(work.target, [expected]), limit_s)
                        state = await _call(driver.read(work.target), limit_s)
                    problem = disaster_mismatch(state, expected)
                elif work.saved:
                    await _call(driver.restore(work.target, work.saved), limit_s)
                    state = await _call(driver.read(work.target), limit_s)
                    problem = ifaces_match(work.saved, state.sections)
                else:
                    await _call(driver.apply(work.target, work.normal), limit_s)
                    state = await _call(driver.read(work.target), limit_s)
                    problem = _normal_mismatch(state, work.normal)
            except DriverError as exc:
                problem = exc.reason or type(exc).__name__
            except Exception as exc:  # a driver bug must fail one AP, not the whole job
                logger.exception("driver error on AP %s", work.ap_id)
                problem = f"{type(exc).__name__}: {exc}"
            if not problem:
                bridge.finished(
                    _Result(
                        work.switch_id,
                        work.ap_id,
                        True,
                        attempt,
                        broadcasting=state.broadcasting(),
                        at=timezone.now(),
                    )
                )
                return
            if number < attempts:
                await asyncio.sleep(backoff * 2 ** (number - 1))
    bridge.finished(_Result(work.switch_id, work.ap_id, False, attempt, error=problem[:300]))


async def _switch_all(
    works: list[_Work],
    *,
    on: bool,
    expected: SsidSpec | None,
    driver_for: DriverFactory,
    bridge: _Bridge,
) -> None:
    limit = asyncio.Semaphore(int(_setting("MACHI_WIFI_SWITCH_CONCURRENCY", 200)))
    attempts = int(_setting("MACHI_WIFI_SWITCH_ATTEMPTS", 3))
    backoff = float(_setting("MACHI_WIFI_SWITCH_BACKOFF", 2.0))
    drivers: dict[str, ApDriver] = {}
    try:
        for name in sorted({w.driver for w in works}):
            drivers[name] = driver_for(name)
        await asyncio.gather(
            *(
                _switch_one(
                    work,
                    on=on,
                    expected=expected,
                    driver=drivers[work.driver],
                    bridge=bridge,
                    limit=limit,
                    attempts=attempts,
                    backoff=backoff,
                )
                for work in works
            )
        )
    finally:
        for driver in drivers.values():
            await _close(driver)


def _works(switches: Iterable[ApSwitch], *, on: bool) -> tuple[list[_Work], list[_Result]]:
    """What the loop needs, and the APs that fail before any call (unreadable secret)."""
    timeout = float(_setting("MACHI_WIFI_DRIVER_TIMEOUT", 5.0))
    works, failed = [], []
    for switch in switches:
        ap = switch.ap
        try:
            secret = crypto.decrypt(ap.secret_encrypted)
            normal = [] if on or ap.saved_config else [profile_spec(p) for p in ap.profiles.all()]
        except crypto.DecryptionError as exc:
            failed.append(_Result(switch.pk, ap.pk, False, switch.attempts, error=str(exc)[:300]))
            continue
        works.append(
            _Work(
                switch_id=switch.pk,
                ap_id=ap.pk,
                driver=ap.driver,
                target=Target(
                    url=ap.management_url, username=ap.username, secret=secret, timeout=timeout
                ),
                attempts_before=switch.attempts,
                keep_config=on and ap.mode == Mode.NORMAL and not ap.saved_config,
                saved=config_from_store(ap.saved_config) if not on else {},
                normal=normal,
            )
        )
    return works, failed


def _keep_configs(rows: list[tuple[int, dict[str, Any]]]) -> None:
    """Store each AP's configuration, all in one prepared statement (executemany).

    Each configuration differs, so the ORM would build one UPDATE per AP (or a CASE per row):
    for 1,000 APs that took 3 s of CPU from the event loop. Values are converted as the ORM
    would (``get_db_prep_save``), so SQLite and PostgreSQL store what ``save()`` would.
    """
    meta = AccessPoint._meta
    field = meta.get_field("saved_config")
    connection = connections[router.db_for_write(AccessPoint)]
    quote = connection.ops.quote_name
    # Names come from the model; every value is a parameter.
    sql = (
        f"UPDATE {quote(meta.db_table)} SET {quote(field.column)} = %s "  # noqa: S608
        f"WHERE {quote(meta.pk.column)} = %s"
    )
    with connection.cursor() as cursor:
        cursor.executemany(
            sql, [(field.get_db_prep_save(sections, connection), pk) for pk, sections in rows]
        )


class _Writer:
    """Writes what the loop reports, in batches, from the job's thread."""

    def __init__(self, run: jobs.JobRun, *, on: bool, drill: bool, total: int) -> None:
        self.run = run
        self.on = on
        self.mode = (Mode.DRILL if drill else Mode.DISASTER) if on else Mode.NORMAL
        self.total = total
        self.confirmed = 0
        self.failed = 0
        self.results: list[_Result] = []
        # JobRun.progress writes at most every PROGRESS_EVERY seconds: the last figures before
        # a long wait (one AP timing out) are written again once the loop is idle.
        self._unwritten_since: float | None = None

    def write(self, batch: list[tuple[str, Any]]) -> None:
        started: dict[int, list[int]] = {}
        keep: list[tuple[int, dict[str, Any], Future[None]]] = []
        finished: list[_Result] = []
        for kind, payload in batch:
            if kind == "started":
                started.setdefault(payload[1], []).append(payload[0])
            elif kind == "keep":
                keep.append(payload)
            else:
                finished.append(payload)
        try:
            with transaction.atomic():
                now = timezone.now()
                for attempt, ids in started.items():
                    ApSwitch.objects.filter(pk__in=ids, started_at__isnull=True).update(
                        started_at=now
                    )
                    ApSwitch.objects.filter(pk__in=ids).update(
                        status=SwitchStatus.RUNNING, attempts=attempt
                    )
                if keep:
                    _keep_configs([(ap_id, sections) for ap_id, sections, _f in keep])
                if finished:
                    self._finish(finished, now)
        except Exception as exc:
            for *_, future in keep:
                future.set_exception(exc)
            raise
        for *_, future in keep:
            future.set_result(None)
        if finished:
            self.results.extend(finished)
            self.confirmed += sum(1 for r in finished if r.confirmed)
            self.failed += sum(1 for r in finished if not r.confirmed)
            self.run.progress(self.confirmed + self.failed, self.total, self.message())
            self._unwritten_since = time.monotonic()

    def flush(self) -> None:
        """Called when nothing happened for a moment: make sure the job shows the figures."""
        since = self._unwritten_since
        if since is not None and time.monotonic() - since >= jobs.PROGRESS_EVERY:
            self.run.progress(self.confirmed + self.failed, self.total, self.message())
            self._unwritten_since = None

    def _finish(self, finished: list[_Result], now: Any) -> None:
        # Grouped by what is written, one UPDATE … WHERE id IN (…) per group: the outcomes of a
        # batch are nearly all alike, and bulk_update's CASE per row and field cost more CPU
        # than the switch itself (measured: 6 of 10 s for 1,000 APs), CPU the event loop
        # needs. The confirmation time is the time it was recorded, at most a batch later.
        switches: dict[tuple[bool, int, str], list[int]] = defaultdict(list)
        aps: dict[tuple[str, ...], list[int]] = defaultdict(list)
        for r in finished:
            switches[(r.confirmed, r.attempts, r.error)].append(r.switch_id)
            if r.confirmed:
                aps[tuple(r.broadcasting)].append(r.ap_id)
        for (confirmed, attempts, error), ids in switches.items():
            ApSwitch.objects.filter(pk__in=ids).update(
                status=SwitchStatus.CONFIRMED if confirmed else SwitchStatus.FAILED,
                attempts=attempts,
                error=error,
                confirmed_at=now if confirmed else None,
            )
        for broadcasting, ids in aps.items():
            values: dict[str, Any] = {
                "mode": self.mode,
                "broadcasting": list(broadcasting),
                "config_status": ConfigStatus.APPLIED,
            }
            if not self.on:
                values["saved_config"] = {}
            AccessPoint.objects.filter(pk__in=ids).update(**values)
        bad = [r.ap_id for r in finished if not r.confirmed]
        if bad:
            AccessPoint.objects.filter(pk__in=bad).update(config_status=ConfigStatus.ERROR)

    def message(self) -> str:
        text = _("%(confirmed)d of %(total)d confirmed") % {
            "confirmed": self.confirmed,
            "total": self.total,
        }
        if self.failed:
            text += ", " + _("%(failed)d failed") % {"failed": self.failed}
        return text


def _refuse_all(switches: list[ApSwitch], reason: str) -> None:
    for switch in switches:
        switch.status, switch.error = SwitchStatus.FAILED, reason[:300]
    ApSwitch.objects.bulk_update(switches, ["status", "error"], batch_size=500)


def disaster_mode_run(
    run: jobs.JobRun,
    *,
    direction: str,
    drill: bool = False,
    disaster_id: int | None = None,
    driver_for: DriverFactory | None = None,
    **_: Any,
) -> dict[str, Any]:
    """The job: switch every AP of the job not yet finished, confirm, record. Idempotent."""
    job = run.job
    on = direction == SwitchDirection.ON
    pending = list(
        ApSwitch.objects.filter(job=job, status__in=[SwitchStatus.QUEUED, SwitchStatus.RUNNING])
        .select_related("ap")
        .prefetch_related("ap__profiles")  # OFF without a kept configuration: normal profiles
    )
    counts_before = selectors.switch_counts(job)
    total = counts_before.actionable
    active = _active_disaster()
    if on and not drill and active is None:
        # The queue may hold the job past the disaster's end: checked again before any AP.
        reason = "refused: no disaster is declared and this is not a drill"
        _refuse_all(pending, reason)
        run.progress(total, total, reason)
        _record(job, on=on, drill=drill, disaster_id=disaster_id, results=[], refused=True)
        return {"refused": True, "direction": direction, "drill": drill}
    profile = selectors.disaster_profile() if on else None
    if on and profile is None:
        _refuse_all(pending, "no 00000JAPAN profile")
        return {"refused": True, "direction": direction, "drill": drill}
    expected = disaster_spec(profile) if profile is not None else None
    if on:
        AccessPoint.objects.filter(pk__in=[s.ap_id for s in pending]).update(
            config_status=ConfigStatus.PENDING
        )
    works, unreadable = _works(pending, on=on)
    writer = _Writer(run, on=on, drill=drill, total=total)
    writer.confirmed, writer.failed = counts_before.confirmed, counts_before.failed
    run.progress(writer.confirmed + writer.failed, total, writer.message())
    if unreadable:
        writer.write([("finished", r) for r in unreadable])
    began = time.perf_counter()
    if works:
        _run_loop(works, on=on, expected=expected, driver_for=driver_for, writer=writer)
    seconds = round(time.perf_counter() - began, 3)
    results = writer.results
    _record(job, on=on, drill=drill, disaster_id=disaster_id, results=results)
    counts = selectors.switch_counts(job)
    return {
        "direction": direction,
        "drill": drill,
        "confirmed": counts.confirmed,
        "failed": counts.failed,
        "skipped": counts.skipped,
        "total": counts.actionable,
        "seconds": seconds,
    }


def _run_loop(
    works: list[_Work],
    *,
    on: bool,
    expected: SsidSpec | None,
    driver_for: DriverFactory | None,
    writer: _Writer,
) -> None:
    """The asyncio loop in its own thread; this thread writes what it reports until it ends."""
    bridge = _Bridge()
    crashed: list[BaseException] = []

    def loop_thread() -> None:
        try:
            asyncio.run(
                _switch_all(
                    works,
                    on=on,
                    expected=expected,
                    driver_for=driver_for or _default_driver_for,
                    bridge=bridge,
                )
            )
        except BaseException as exc:  # reported in the job's thread
            crashed.append(exc)
        finally:
            bridge.done.set()

    thread = threading.Thread(target=loop_thread, name="wifi-switch", daemon=True)
    thread.start()
    try:
        while True:
            batch = bridge.take(timeout=0.05)
            if batch:
                writer.write(batch)
            writer.flush()
            if not batch and bridge.done.is_set():
                leftover = bridge.take(timeout=0)
                if not leftover:
                    break
                writer.write(leftover)
    except BaseException:
        bridge.cancelled.set()  # the database is gone: stop before touching more APs
        thread.join(timeout=30)
        raise
    thread.join()
    if crashed:
        # APs the loop never reported are failed, with the reason, rather than left running.
        reported = {r.switch_id for r in writer.results}
        lost = [
            _Result(w.switch_id, w.ap_id, False, w.attempts_before, error=repr(crashed[0])[:300])
            for w in works
            if w.switch_id not in reported
        ]
        if lost:
            writer.write([("finished", r) for r in lost])
        logger.error("disaster-mode loop crashed: %r", crashed[0])


def _record(
    job: Job,
    *,
    on: bool,
    drill: bool,
    disaster_id: int | None,
    results: list[_Result],
    refused: bool = False,
) -> None:
    """The summary line for HQ's chronology and the audit events (one per AP outcome)."""
    from machi.emergency import services as emergency_services

    counts = selectors.switch_counts(job)
    prefix = "【訓練】" if drill else ""
    if refused:
        text = f"{prefix}00000JAPAN 開放を中止: 災害が宣言されていません（{counts.failed} 台）"
    elif on:
        text = f"{prefix}00000JAPAN 開放: {counts.confirmed}/{counts.actionable} 台確認"
    else:
        text = (
            f"{prefix}00000JAPAN 停止（通常の設定に復旧）: "
            f"{counts.confirmed}/{counts.actionable} 台確認"
        )
    if counts.failed and not refused:
        text += f"、{counts.failed} 台失敗"
    if counts.skipped:
        text += f"（対象外 {counts.skipped} 台）"
    try:
        emergency_services.chronology_record(
            kind=ChronologyKind.DISASTER,
            text=text,
            disaster=disaster_id if disaster_id is not None else _active_disaster(),
            important=bool(counts.failed) or refused,
        )
    except Exception:  # the switch happened: a chronology problem must not undo the record
        logger.exception("could not write the chronology line of job %s", job.pk)
    failures = {str(r.ap_id): r.error for r in results if not r.confirmed}
    core_services.audit_record(
        action=Action.UPDATE,
        object_type=RESOURCE,
        detail={
            "job": str(job.pk),
            "direction": "on" if on else "off",
            "drill": drill,
            "confirmed": counts.confirmed,
            "failed": failures,
            "skipped": counts.skipped,
        },
    )
    touched = [r.ap_id for r in results]
    if touched:
        core_services.audit_record_many(
            action=Action.UPDATE, records=AccessPoint.objects.filter(pk__in=touched)
        )


def aps_to_restore() -> Any:
    """Every AP a restore would touch: not in normal mode, or holding a kept configuration."""
    return AccessPoint.objects.filter(Q(mode__in=[Mode.DISASTER, Mode.DRILL]) | ~Q(saved_config={}))
