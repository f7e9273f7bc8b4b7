"""Writes of the Wi-Fi monitoring: NetJSON reports in, health, silence, alerts, e-mail.

The health rules are listed in ``selectors_monitor``. The numbers to beat are OpenWISP's
defaults (ping every 5 minutes, "unreachable" after 30, CPU/memory after 30, clients after
120): in a disaster a dead shelter AP must show within a minute. So APs push every ~10 s, the
worker sweeps every 10 s, an AP silent for ``MACHI_WIFI_SILENCE_SECONDS`` (30) is CRITICAL
with an open "unreachable" alert, and one grouped e-mail tells the Wi-Fi administrators.

Reports are machine data about the APs: no audit event is written per report. Client MAC
addresses are personal data; they are never stored: only a keyed hash (HMAC-SHA256 with a key
derived from the secret key, truncated to 32 hex digits) is kept, per site and hour, to count
unique clients.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import hashlib
import hmac
import importlib
import logging
import math
import re
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core.cache import cache
from django.core.mail import send_mail
from django.db import DatabaseError, connection, transaction
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from machi.wifi import selectors_monitor as selectors
from machi.wifi.models import (
    AccessPoint,
    AlertKind,
    ApHour,
    ClientSeen,
    ConfigStatus,
    Driver,
    Health,
    WifiAlert,
)

log = logging.getLogger(__name__)

MEMORY_LIMIT = 0.95  # used share of RAM above which an AP is in PROBLEM
LOAD_PER_CPU = 0.9  # 1-minute load average per CPU above which an AP is in PROBLEM
MAX_BODY = 256 * 1024
MAX_INTERFACES = 256
MAX_CLIENTS_PER_REPORT = 4096
CLIENT_DIGEST_HEX = 32

DEFAULTS: dict[str, Any] = {
    "MACHI_WIFI_CLIENTS_ALERT_MINUTES": 10,
    "MACHI_WIFI_RESOURCES_ALERT_MINUTES": 5,
    "MACHI_WIFI_CONFIG_ALERT_MINUTES": 2,
    "MACHI_WIFI_ALERT_GROUP_SECONDS": 10,
    "MACHI_WIFI_PING": False,
    "MACHI_WIFI_CHECK_CONCURRENCY": 64,
    "MACHI_WIFI_CHECK_TIMEOUT": 3.0,
    "MACHI_WIFI_CLIENTS_RETENTION_DAYS": 90,
    "MACHI_WIFI_HOURS_RETENTION_DAYS": 400,
    "MACHI_BASE_URL": "",
}


def setting(name: str) -> Any:
    return getattr(settings, name, DEFAULTS[name])


class ReportError(ValueError):
    """A report that cannot be read; ``field`` is the dotted path of the offending value."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class ApGone(LookupError):
    """The AP was removed since it was looked up."""


# --- MAC addresses and their hashes -----------------------------------------------------------

_HEX = frozenset("0123456789abcdef")
_NORMAL_MAC = re.compile(r"[0-9a-f]{2}(?::[0-9a-f]{2}){5}")


def mac_normalise(value: str) -> str | None:
    """``aa:bb:cc:dd:ee:ff`` from the usual spellings (colons, hyphens, none; any case)."""
    low = value.lower()
    if _NORMAL_MAC.fullmatch(low):  # what agents send: the quick way (many per report)
        return low
    plain = low.strip().replace(":", "").replace("-", "").replace(".", "")
    if len(plain) != 12 or not _HEX.issuperset(plain):
        return None
    return ":".join(plain[i : i + 2] for i in range(0, 12, 2))


@functools.cache
def _client_hmac(secret: str) -> Any:
    # A key of its own, derived from the secret key, so the hashes say nothing about any other
    # secret. Rotating the secret key starts new hashes: unique counts across the rotation
    # hour count a device twice.
    key = hmac.new(secret.encode(), b"machi.wifi.client-seen.v1", hashlib.sha256).digest()
    return hmac.new(key, digestmod=hashlib.sha256)


def client_digest(mac: str) -> str:
    """The stored stand-in of a client's MAC (normalised first): 32 hex digits of HMAC-SHA256."""
    return client_digests([mac])[0]


def client_digests(macs: Iterable[str]) -> list[str]:
    base = _client_hmac(settings.SECRET_KEY)
    digests = []
    for mac in macs:
        if not _NORMAL_MAC.fullmatch(mac):
            mac = mac_normalise(mac) or mac.strip().lower()
        keyed = base.copy()
        keyed.update(mac.encode())
        digests.append(keyed.hexdigest()[:CLIENT_DIGEST_HEX])
    return digests


# --- NetJSON DeviceMonitoring ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Report:
    """What Machi keeps of one NetJSON DeviceMonitoring document (or an active check)."""

    uptime_s: int | None = None
    cpus: int = 1
    load: float | None = None  # 1-minute load average
    memory_used: float | None = None  # 0..1
    rx_bytes: int | None = None  # counters of the wireless interfaces, since boot
    tx_bytes: int | None = None
    clients: int | None = None  # None: unknown (SNMP, ping): the AP row keeps its value
    client_macs: tuple[str, ...] = ()  # normalised; hashed before anything is written


def _object(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ReportError(where, "must be an object")
    return value


def _number(value: Any, where: str, *, integer: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ReportError(where, "must be a number")
    if integer and not isinstance(value, int):
        raise ReportError(where, "must be an integer")
    if value < 0 or (isinstance(value, float) and not math.isfinite(value)):
        raise ReportError(where, "must be zero or more")
    return value


def report_parse(data: Any) -> Report:
    """Read a NetJSON ``DeviceMonitoring`` document; ``ReportError`` names the bad field.

    Read: ``general.uptime``; ``resources.cpus``, ``resources.load[0]`` and
    ``resources.memory`` (used = 1 − available/total, or 1 − (free + buffered + cached)/total
    without ``available``); for each interface with a ``wireless`` object, its
    ``statistics.rx_bytes``/``tx_bytes`` (the Wi-Fi traffic: bridges and uplinks would count it
    twice) and its ``wireless.clients[].mac``. Anything else is accepted and ignored.
    """
    document = _object(data, "body")
    if document.get("type") != "DeviceMonitoring":
        raise ReportError("body.type", 'must be "DeviceMonitoring"')
    uptime: int | None = None
    general = document.get("general")
    if general is not None:
        general = _object(general, "body.general")
        if general.get("uptime") is not None:
            uptime = int(_number(general["uptime"], "body.general.uptime"))
    cpus, load, memory_used = 1, None, None
    resources = document.get("resources")
    if resources is not None:
        resources = _object(resources, "body.resources")
        if resources.get("cpus") is not None:
            cpus = max(1, int(_number(resources["cpus"], "body.resources.cpus", integer=True)))
        if resources.get("load") is not None:
            loads = resources["load"]
            if not isinstance(loads, list) or not loads:
                raise ReportError("body.resources.load", "must be a list of numbers")
            load = float(_number(loads[0], "body.resources.load.0"))
        if resources.get("memory") is not None:
            memory_used = _memory_used(_object(resources["memory"], "body.resources.memory"))
    rx = tx = None
    clients: list[str] = []
    interfaces = document.get("interfaces")
    if interfaces is not None:
        if not isinstance(interfaces, list):
            raise ReportError("body.interfaces", "must be a list")
        if len(interfaces) > MAX_INTERFACES:
            raise ReportError("body.interfaces", f"at most {MAX_INTERFACES} interfaces")
        for index, raw in enumerate(interfaces):
            where = f"body.interfaces.{index}"
            interface = _object(raw, where)
            wireless = interface.get("wireless")
            if wireless is None:
                continue
            wireless = _object(wireless, f"{where}.wireless")
            statistics = interface.get("statistics")
            if statistics is not None:
                statistics = _object(statistics, f"{where}.statistics")
                for name in ("rx_bytes", "tx_bytes"):
                    if statistics.get(name) is None:
                        continue
                    value = int(_number(statistics[name], f"{where}.statistics.{name}"))
                    if name == "rx_bytes":
                        rx = (rx or 0) + value
                    else:
                        tx = (tx or 0) + value
            listed = wireless.get("clients")
            if listed is None:
                continue
            if not isinstance(listed, list):
                raise ReportError(f"{where}.wireless.clients", "must be a list")
            for number, client in enumerate(listed):
                place = f"{where}.wireless.clients.{number}.mac"
                mac = _object(client, f"{where}.wireless.clients.{number}").get("mac")
                normal = mac_normalise(mac) if isinstance(mac, str) else None
                if normal is None:
                    raise ReportError(place, "must be a MAC address")
                clients.append(normal)
            if len(clients) > MAX_CLIENTS_PER_REPORT:
                raise ReportError(f"{where}.wireless.clients", "too many clients")
    unique = tuple(dict.fromkeys(clients))
    return Report(
        uptime_s=uptime,
        cpus=cpus,
        load=load,
        memory_used=memory_used,
        rx_bytes=rx,
        tx_bytes=tx,
        clients=len(unique),
        client_macs=unique,
    )


def _memory_used(memory: dict[str, Any]) -> float | None:
    where = "body.resources.memory"
    values = {
        key: _number(memory[key], f"{where}.{key}")
        for key in ("total", "free", "available", "buffered", "cached")
        if memory.get(key) is not None
    }
    total = values.get("total")
    if not total:
        return None
    if "available" in values:
        spare = values["available"]
    else:
        spare = values.get("free", 0) + values.get("buffered", 0) + values.get("cached", 0)
    return min(1.0, max(0.0, 1 - spare / total))


def health_of(report: Report, *, max_clients: int) -> tuple[str, str]:
    """OK, or PROBLEM with the reasons (short, language-neutral; see selectors.reason_label)."""
    reasons = []
    if report.memory_used is not None and report.memory_used > MEMORY_LIMIT:
        reasons.append(f"memory {math.floor(report.memory_used * 100)}%")
    limit = report.cpus * LOAD_PER_CPU
    if report.load is not None and report.load > limit:
        reasons.append(f"load {report.load:.2f} > {limit:.2f}")
    if report.clients is not None and report.clients > max_clients:
        reasons.append(f"clients {report.clients} > {max_clients}")
    return (Health.PROBLEM, "; ".join(reasons)) if reasons else (Health.OK, "")


# --- Ingesting a report (the hot path) -------------------------------------------------------


class _SeenThisHour:
    """Client hashes this process has already written for (site, hour): each device is
    INSERTed once per hour and process instead of on every report.

    This keeps "unique clients per hour" exact without delaying writes: a device in any report
    is written at once unless this process knows its row exists. (Writing the hour rows once
    a minute from memory would lose up to a minute when a web process restarts.)
    """

    LIMIT = 500_000

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.hour: dt.datetime | None = None
        self.keys: set[tuple[int, str]] = set()

    def new(self, hour: dt.datetime, site_id: int, digests: Iterable[str]) -> list[str]:
        with self.lock:
            if hour != self.hour or len(self.keys) > self.LIMIT:
                self.hour, self.keys = hour, set()
            return [d for d in digests if (site_id, d) not in self.keys]

    def add(self, hour: dt.datetime, site_id: int, digests: Iterable[str]) -> None:
        with self.lock:
            if hour == self.hour:
                self.keys.update((site_id, d) for d in digests)

    def clear(self) -> None:
        with self.lock:
            self.hour, self.keys = None, set()


_seen = _SeenThisHour()


def forget_process_state() -> None:
    """Forget what this process remembers (tests; after restoring a database)."""
    _seen.clear()
    selectors.forget_push_targets()


_PG_TYPES = {
    "health": "varchar",
    "reason": "varchar",
    "now": "timestamptz",
    "clients": "integer",
    "rx": "bigint",
    "tx": "bigint",
    "load": "double precision",
    "memory": "double precision",
    "uptime": "bigint",
    "hour": "timestamptz",
    "max_clients": "integer",
    "site": "bigint",
}


@functools.cache
def _statements(vendor: str) -> dict[str, str]:
    """The SQL of ``report_ingest``, built once per process from the models' names (values
    are always parameters)."""
    quote = connection.ops.quote_name

    def table(model: Any) -> str:
        return str(quote(model._meta.db_table))

    ap, hour, seen, alert = table(AccessPoint), table(ApHour), table(ClientSeen), table(WifiAlert)
    q = quote
    cast = _PG_TYPES
    if vendor == "postgresql":
        # Typed placeholders: in INSERT … SELECT a bare parameter would arrive as text.
        def p(name: str) -> str:
            return f"%({name})s::{cast[name]}" if name in cast else f"%({name})s"
    else:

        def p(name: str) -> str:
            return f":{name}"

    set_ap = (
        f"{q('health')} = {p('health')}, {q('health_reason')} = {p('reason')}, "
        f"{q('last_seen_at')} = {p('now')}, "
        f"{q('clients')} = COALESCE({p('clients')}, {ap}.{q('clients')}), "
        f"{q('rx_bytes')} = COALESCE({p('rx')}, {ap}.{q('rx_bytes')}), "
        f"{q('tx_bytes')} = COALESCE({p('tx')}, {ap}.{q('tx_bytes')}), "
        f"{q('load')} = COALESCE({p('load')}, {ap}.{q('load')}), "
        f"{q('memory_used')} = COALESCE({p('memory')}, {ap}.{q('memory_used')}), "
        f"{q('uptime_s')} = COALESCE({p('uptime')}, {ap}.{q('uptime_s')})"
    )

    def delta(new: str, column: str, source: str) -> str:
        # Traffic since the previous report; a counter that went back (a reboot) starts
        # again; the first report counts nothing (when its counters grew is unknown).
        return (
            f"CASE WHEN {new} IS NULL OR {source}.{q('last_seen_at')} IS NULL THEN 0 "
            f"WHEN {new} >= {source}.{q(column)} THEN {new} - {source}.{q(column)} "
            f"ELSE {new} END"
        )

    def hour_from(source: str) -> str:
        return (
            f"INSERT INTO {hour} ({q('ap_id')}, {q('hour')}, {q('max_clients')}, "  # noqa: S608
            f"{q('rx_bytes')}, {q('tx_bytes')}, {q('reports')}) "
            f"SELECT {source}.{q('id')}, {p('hour')}, {p('max_clients')}, "
            f"{delta(p('rx'), 'rx_bytes', source)}, {delta(p('tx'), 'tx_bytes', source)}, 1 "
            f"FROM {source} "
            + (f"WHERE {q('id')} = {p('ap')} " if source == ap else "")
            + f"ON CONFLICT ({q('ap_id')}, {q('hour')}) DO UPDATE SET "
            f"{q('max_clients')} = CASE WHEN excluded.{q('max_clients')} > "
            f"{hour}.{q('max_clients')} THEN excluded.{q('max_clients')} "
            f"ELSE {hour}.{q('max_clients')} END, "
            f"{q('rx_bytes')} = {hour}.{q('rx_bytes')} + excluded.{q('rx_bytes')}, "
            f"{q('tx_bytes')} = {hour}.{q('tx_bytes')} + excluded.{q('tx_bytes')}, "
            f"{q('reports')} = {hour}.{q('reports')} + 1"
        )

    clear = (
        f"UPDATE {alert} SET {q('cleared_at')} = {p('now')} "  # noqa: S608
        f"WHERE {q('ap_id')} = {p('ap')} AND {q('kind')} = {p('kind')} "
        f"AND {q('cleared_at')} IS NULL"
    )
    if vendor == "postgresql":
        # One statement, one round trip (as the check-in, ADR 0011): the old counters (locked),
        # the AP row, the hour row with the traffic since the previous report, the new client
        # hashes, and the "unreachable" alert closed.
        return {
            "one": (
                f"WITH old AS (SELECT {q('id')}, {q('rx_bytes')}, {q('tx_bytes')}, "  # noqa: S608
                f"{q('last_seen_at')} FROM {ap} WHERE {q('id')} = {p('ap')} FOR UPDATE), "
                f"updated AS (UPDATE {ap} SET {set_ap} WHERE {q('id')} = {p('ap')} "
                f"RETURNING 1), "
                f"hour AS ({hour_from('old')} RETURNING 1), "
                f"seen AS (INSERT INTO {seen} ({q('site_id')}, {q('hour')}, {q('client')}) "
                f"SELECT {p('site')}, {p('hour')}, c "
                f"FROM unnest(%(digests)s::varchar[]) AS c WHERE EXISTS (SELECT 1 FROM old) "
                f"ON CONFLICT DO NOTHING RETURNING 1), "
                f"cleared AS ({clear} AND {q('ap_id')} IN (SELECT {q('id')} FROM old) "
                f"RETURNING 1) "
                f"SELECT count(*) FROM old"
            )
        }
    # SQLite: the hour first, its traffic computed from the AP row as it still is, and that
    # row's health before this report (RETURNING); then the row. Two statements, one
    # transaction; the alert and new client hashes only when there are some.
    return {
        "hour": (
            f"{hour_from(ap)} RETURNING (SELECT {q('health')} FROM {ap} "  # noqa: S608
            f"WHERE {q('id')} = {p('ap')})"
        ),
        "update": f"UPDATE {ap} SET {set_ap} WHERE {q('id')} = {p('ap')}",  # noqa: S608
        "seen": (
            f"INSERT INTO {seen} ({q('site_id')}, {q('hour')}, {q('client')}) "  # noqa: S608
            f"VALUES ({p('site')}, {p('hour')}, :client) ON CONFLICT DO NOTHING"
        ),
        "clear": clear,
    }


def _hour_of(moment: dt.datetime) -> dt.datetime:
    return moment.astimezone(dt.UTC).replace(minute=0, second=0, microsecond=0)


def report_ingest(
    *, target: selectors.PushTarget, report: Report, now: dt.datetime | None = None
) -> str:
    """Store one report of an AP: its row (health, last seen, counters), its hour (most clients,
    traffic since the previous report, reports + 1), the hashes of clients not yet seen this
    hour at its site, and close its "unreachable" alert. Returns the health; ``ApGone`` when
    the AP was removed.

    No ORM query is built here: a thousand APs reporting every few seconds is the load to
    carry (bench/wifi_monitor.py). Every report writes its hour row at once (not once a minute
    from memory): nothing is lost when a web process restarts, and the hour's counts are exact.
    """
    now = now or timezone.now()
    health, reason = health_of(report, max_clients=target.max_clients)
    hour = _hour_of(now)
    new = _seen.new(hour, target.site_id, client_digests(report.client_macs))
    values: dict[str, Any] = {
        "health": health,
        "reason": reason,
        "now": now,
        "clients": report.clients,
        "rx": report.rx_bytes,
        "tx": report.tx_bytes,
        "load": report.load,
        "memory": report.memory_used,
        "uptime": report.uptime_s,
        "ap": target.ap_id,
        "hour": hour,
        "max_clients": report.clients or 0,
        "site": target.site_id,
        "kind": AlertKind.UNREACHABLE.value,
    }
    if connection.vendor == "postgresql":
        if not _postgresql_ingest({**values, "digests": new}):
            raise ApGone(target.ap_id)
    else:
        adapt = connection.ops.adapt_datetimefield_value
        values["now"], values["hour"] = adapt(now), adapt(hour)
        _sqlite_ingest(target.ap_id, values, new)
    if new:
        transaction.on_commit(lambda: _seen.add(hour, target.site_id, new))
    return health


_PREPARED = "machi_wifi_report"
_PREPARED_ON = "_machi_wifi_report_prepared_on"


@functools.cache
def _prepared_statements() -> tuple[str, str]:
    """PREPARE and EXECUTE of the one statement, with ``$n`` for its named parameters."""
    one = _statements("postgresql")["one"]
    names: list[str] = []

    def number(found: re.Match[str]) -> str:
        if found.group(1) not in names:
            names.append(found.group(1))
        return f"${names.index(found.group(1)) + 1}"

    body = re.sub(r"%\((\w+)\)s(?:::(?:double precision|[a-z]+)(?:\[\])?)?", number, one)
    types = {**_PG_TYPES, "ap": "bigint", "kind": "varchar", "digests": "varchar[]"}
    prepare = f"PREPARE {_PREPARED} ({', '.join(types[n] for n in names)}) AS {body}"
    execute = f"EXECUTE {_PREPARED} ({', '.join(f'%({n})s' for n in names)})"
    return prepare, execute


def _postgresql_ingest(values: dict[str, Any], *, retry: bool = True) -> bool:
    """The one statement, prepared once per database session: planning it (five CTEs) took
    longer than running it. Outside a caller's transaction it commits without waiting for the
    WAL flush (``synchronous_commit`` off for this transaction only): a crash of the database
    server may lose the last fraction of a second of reports, which the next reports, ten
    seconds later, replace; nothing else is written with it. Returns False if the AP is gone."""
    prepare, execute = _prepared_statements()
    if connection.connection is None or getattr(connection, _PREPARED_ON, None) is not (
        connection.connection
    ):
        connection.ensure_connection()
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1 FROM pg_prepared_statements WHERE name = %s", [_PREPARED])
            if cursor.fetchone() is None:
                cursor.execute(prepare)
        setattr(connection, _PREPARED_ON, connection.connection)
    relaxed = not connection.in_atomic_block
    try:
        with connection.cursor() as cursor:
            if relaxed:
                cursor.execute(f"SET LOCAL synchronous_commit TO OFF; {execute}", values)
                cursor.nextset()
            else:
                cursor.execute(execute, values)
            found = cursor.fetchone()
    except DatabaseError as exc:
        # "prepared statement does not exist": another server session behind a pooler.
        if not (relaxed and retry and getattr(exc.__cause__, "sqlstate", "") == "26000"):
            raise
        setattr(connection, _PREPARED_ON, None)
        return _postgresql_ingest(values, retry=False)
    return bool(found and found[0])


def _sqlite_ingest(ap_id: int, values: dict[str, Any], new: list[str]) -> None:
    sql = _statements("sqlite")

    def write(execute: Any) -> None:
        before = execute(sql["hour"], values).fetchall()
        if not before:
            raise ApGone(ap_id)
        execute(sql["update"], values)
        if before[0][0] == Health.CRITICAL:
            execute(sql["clear"], values)
        if new:
            seen = [{"site": values["site"], "hour": values["hour"], "client": d} for d in new]
            execute(sql["seen"], seen, many=True)

    if connection.in_atomic_block or not connection.get_autocommit():
        # Inside a caller's transaction (tests, services): Django's cursor and a savepoint.
        with transaction.atomic(), connection.cursor() as cursor:

            def through_django(query: str, params: Any, *, many: bool = False) -> Any:
                if many:
                    cursor.executemany(query, params)
                else:
                    cursor.execute(query, params)
                return cursor

            write(through_django)
        return
    # On its own (a web request): straight to sqlite3, one IMMEDIATE transaction. Django's
    # cursor and atomic() wrappers cost more Python time than SQLite takes for the writes.
    connection.ensure_connection()
    raw = connection.connection

    def direct(query: str, params: Any, *, many: bool = False) -> Any:
        return raw.executemany(query, params) if many else raw.execute(query, params)

    raw.execute("BEGIN IMMEDIATE")
    try:
        write(direct)
        raw.execute("COMMIT")
    except BaseException:
        if raw.in_transaction:
            raw.execute("ROLLBACK")
        raise


def ap_seen(*, ap_id: int, report: Report | None = None, now: dt.datetime | None = None) -> str:
    """An active check (SNMP, ping) reached the AP: the same as a report of what it told."""
    target = _target_of(ap_id)
    return report_ingest(target=target, report=report or Report(), now=now)


def _target_of(ap_id: int) -> selectors.PushTarget:
    ap = AccessPoint.objects.values("pk", "site_id", "monitoring_key_digest").get(pk=ap_id)
    return selectors.PushTarget(
        ap_id=ap["pk"],
        site_id=ap["site_id"],
        key_digest=ap["monitoring_key_digest"],
        max_clients=selectors.ap_max_clients([ap_id]).get(ap_id, selectors.max_clients_default()),
    )


# --- Alerts -------------------------------------------------------------------------------------


def _alerts_open(kind: str, details: Mapping[int, str], *, now: dt.datetime) -> list[int]:
    """Open a ``kind`` alert for each AP that has none open; returns the APs with a new one.

    The partial unique constraint (one open alert per AP and kind) settles a race with another
    sweep: the second INSERT is ignored.
    """
    if not details:
        return []
    already = set(
        WifiAlert.objects.filter(
            ap_id__in=list(details), kind=kind, cleared_at__isnull=True
        ).values_list("ap_id", flat=True)
    )
    new = [ap_id for ap_id in details if ap_id not in already]
    WifiAlert.objects.bulk_create(
        [
            WifiAlert(ap_id=ap_id, kind=kind, detail=details[ap_id][:300], opened_at=now)
            for ap_id in new
        ],
        ignore_conflicts=True,
    )
    return new


def _alerts_clear(kind: str, ap_ids: Iterable[int], *, now: dt.datetime) -> int:
    ids = list(ap_ids)
    if not ids:
        return 0
    return WifiAlert.objects.filter(ap_id__in=ids, kind=kind, cleared_at__isnull=True).update(
        cleared_at=now
    )


def ap_unreachable(
    *,
    ap_ids: Iterable[int],
    reason: str,
    not_seen_since: dt.datetime,
    now: dt.datetime | None = None,
) -> list[int]:
    """Mark these APs CRITICAL and open their "unreachable" alert, unless they were seen at or
    after ``not_seen_since`` meanwhile (a report that arrived during the sweep wins).
    Returns the APs marked."""
    now = now or timezone.now()
    ids = list(ap_ids)
    if not ids:
        return []
    with transaction.atomic():
        still = (
            AccessPoint.objects.select_for_update()
            .filter(pk__in=ids)
            .exclude(last_seen_at__gte=not_seen_since)
        )
        marked = list(still.values_list("pk", flat=True))
        if not marked:
            return []
        AccessPoint.objects.filter(pk__in=marked).update(
            health=Health.CRITICAL, health_reason=reason
        )
        _alerts_open(AlertKind.UNREACHABLE, dict.fromkeys(marked, reason), now=now)
    return marked


def sweep_silence(now: dt.datetime | None = None) -> list[int]:
    """APs that push and have been silent for ``MACHI_WIFI_SILENCE_SECONDS``: CRITICAL, with an
    open "unreachable" alert. Idempotent and short: tests and the worker call it directly.

    APs that do not push (no monitoring key) are judged by their active checks (SNMP, ping)
    instead; APs that never reported stay UNKNOWN.
    """
    now = now or timezone.now()
    cutoff = now - dt.timedelta(seconds=selectors.silence_seconds())
    open_unreachable = WifiAlert.objects.filter(
        ap=OuterRef("pk"), kind=AlertKind.UNREACHABLE, cleared_at__isnull=True
    )
    silent = (
        AccessPoint.objects.filter(enabled=True, last_seen_at__lt=cutoff)
        .exclude(monitoring_key_digest="")
        .filter(~Exists(open_unreachable) | ~Q(health=Health.CRITICAL))
        .values_list("pk", flat=True)
    )
    return ap_unreachable(
        ap_ids=list(silent), reason="unreachable: no report", not_seen_since=cutoff, now=now
    )


CONDITIONS_KEY = "wifi:monitor:conditions"


def _condition_delays() -> dict[str, float]:
    return {
        AlertKind.CLIENTS: 60.0 * setting("MACHI_WIFI_CLIENTS_ALERT_MINUTES"),
        AlertKind.RESOURCES: 60.0 * setting("MACHI_WIFI_RESOURCES_ALERT_MINUTES"),
        AlertKind.CONFIG: 60.0 * setting("MACHI_WIFI_CONFIG_ALERT_MINUTES"),
    }


def sweep_conditions(now: dt.datetime | None = None) -> dict[str, list[int]]:
    """Alerts for conditions that must last before they count: too many clients
    (``MACHI_WIFI_CLIENTS_ALERT_MINUTES``, 10), memory or load (``…_RESOURCES_…``, 5), a
    configuration not applied (``config_status`` "error", ``…_CONFIG_…``, 2). An alert clears
    when its condition is gone.

    When each condition started is kept in the cache (the sweep samples the APs' rows every
    10 s): a cleared cache restarts the clocks, which only delays an alert.
    Returns the APs with a new alert, by kind.
    """
    now = now or timezone.now()
    stamp = now.timestamp()
    over: dict[str, dict[int, str]] = {kind: {} for kind in _condition_delays()}
    evaluated: dict[str, set[int]] = {kind: set() for kind in _condition_delays()}
    rows = AccessPoint.objects.filter(enabled=True).values_list(
        "pk", "health", "health_reason", "config_status"
    )
    for pk, health, reason, config in rows:
        evaluated[AlertKind.CONFIG].add(pk)
        if config == ConfigStatus.ERROR:
            over[AlertKind.CONFIG][pk] = "config_status error"
        if health not in (Health.OK, Health.PROBLEM):
            continue  # silent or never seen: nothing is known about its load or clients now
        evaluated[AlertKind.CLIENTS].add(pk)
        evaluated[AlertKind.RESOURCES].add(pk)
        parts = [p.strip() for p in reason.split(";")]
        clients = [p for p in parts if p.startswith("clients ")]
        resources = [p for p in parts if p.startswith(("memory ", "load "))]
        if clients:
            over[AlertKind.CLIENTS][pk] = "; ".join(clients)
        if resources:
            over[AlertKind.RESOURCES][pk] = "; ".join(resources)
    started: dict[str, dict[int, float]] = cache.get(CONDITIONS_KEY) or {}
    kept: dict[str, dict[int, float]] = {}
    opened: dict[str, list[int]] = {}
    with transaction.atomic():
        for kind, delay in _condition_delays().items():
            before = started.get(kind, {})
            since = {pk: before.get(pk, stamp) for pk in over[kind]}
            kept[kind] = since
            due = {pk: over[kind][pk] for pk, first in since.items() if stamp - first >= delay}
            opened[kind] = _alerts_open(kind, due, now=now)
            _alerts_clear(kind, evaluated[kind] - set(over[kind]), now=now)
    cache.set(CONDITIONS_KEY, kept, timeout=None)
    return opened


# --- The sweep: every 10 s in the worker ------------------------------------------------------

SWEEP_LOCK = "wifi:monitor:pass-lock"
NOTIFY_QUEUED_KEY = "wifi:monitor:notify-queued"
NOTIFY_BACKOFF_KEY = "wifi:monitor:notify-backoff"
NOTIFY_BACKOFF_SECONDS = 60


@dataclass
class PassSummary:
    ran: bool
    unreachable: list[int] = field(default_factory=list)
    opened: dict[str, list[int]] = field(default_factory=dict)
    notify: bool = False


def monitor_pass(now: dt.datetime | None = None) -> PassSummary:
    """One sweep: silence, lasting conditions, and the e-mail of alerts due. Never overlaps
    another pass (a cache lock; a pass that finds it taken does nothing)."""
    now = now or timezone.now()
    if not cache.add(SWEEP_LOCK, now.timestamp(), timeout=30):
        return PassSummary(ran=False)
    try:
        unreachable = sweep_silence(now)
        opened = sweep_conditions(now)
        cache.set(selectors.SWEEP_LAST_KEY, now.timestamp(), timeout=None)
        notify = notify_due(now)
        if notify:
            from machi.wifi import tasks

            transaction.on_commit(tasks.wifi_alerts_notify)
        return PassSummary(ran=True, unreachable=unreachable, opened=opened, notify=notify)
    finally:
        cache.delete(SWEEP_LOCK)


def notify_due(now: dt.datetime) -> bool:
    """Is there an alert to mail, old enough that the alerts opened with it (a site's power
    cut silences its APs within one report interval) go in the same mail?

    Also claims the e-mail: True at most once until the task has run (``NOTIFY_QUEUED_KEY``),
    and not for a minute after a failed sending (``NOTIFY_BACKOFF_KEY``)."""
    group = float(setting("MACHI_WIFI_ALERT_GROUP_SECONDS"))
    oldest = (
        WifiAlert.objects.filter(cleared_at__isnull=True, notified_at__isnull=True)
        .order_by("opened_at")
        .values_list("opened_at", flat=True)
        .first()
    )
    if oldest is None or (now - oldest).total_seconds() < group:
        return False
    if cache.get(NOTIFY_BACKOFF_KEY):
        return False
    return bool(cache.add(NOTIFY_QUEUED_KEY, 1, timeout=300))


def alerts_notify(now: dt.datetime | None = None) -> int:
    """Send one e-mail listing every open alert not yet notified to every active Wi-Fi
    administrator with an address, then mark them notified. Returns how many alerts.

    Sent before marking: if the worker dies in between, the next run mails them again (twice
    rather than never). A failure is logged, raised (the task logs it) and retried by the next
    sweep after ``NOTIFY_BACKOFF_SECONDS``; it never touches the ingestion of reports.
    """
    now = now or timezone.now()
    try:
        pending = selectors.alerts_to_notify()
        if not pending:
            return 0
        recipients = selectors.alert_recipients()
        if recipients:
            subject, body = alert_mail(pending)
            try:
                send_mail(subject, body, None, recipients, fail_silently=False)
            except Exception:
                cache.set(NOTIFY_BACKOFF_KEY, 1, timeout=NOTIFY_BACKOFF_SECONDS)
                log.exception("the Wi-Fi alert e-mail (%d alerts) could not be sent", len(pending))
                raise
        else:
            log.warning(
                "%d Wi-Fi alerts: no active Wi-Fi administrator has an e-mail address",
                len(pending),
            )
        WifiAlert.objects.filter(pk__in=[a.pk for a in pending], notified_at__isnull=True).update(
            notified_at=now
        )
        _chronicle(pending)
        return len(pending)
    finally:
        cache.delete(NOTIFY_QUEUED_KEY)


def _kind_label(kind: str) -> str:
    return str(AlertKind(kind).label) if kind in AlertKind.values else kind


def alert_mail(alerts: Sequence[WifiAlert]) -> tuple[str, str]:
    """The subject and text of the grouped e-mail, in the installation's language."""
    with translation.override(settings.LANGUAGE_CODE):
        unreachable = sum(1 for a in alerts if a.kind == AlertKind.UNREACHABLE)
        sites = sorted({str(a.ap.site) for a in alerts})
        if unreachable:
            subject = _("[Machi] Wi-Fi: %(n)s access points unreachable (%(sites)s)") % {
                "n": unreachable,
                "sites": ", ".join(sites[:3]) + (" …" if len(sites) > 3 else ""),
            }
        else:
            subject = _("[Machi] Wi-Fi: %(n)s alerts (%(sites)s)") % {
                "n": len(alerts),
                "sites": ", ".join(sites[:3]) + (" …" if len(sites) > 3 else ""),
            }
        lines = [_("Wi-Fi monitoring: %(n)s new alerts.") % {"n": len(alerts)}, ""]
        by_site: dict[str, list[WifiAlert]] = {}
        for alert in alerts:
            by_site.setdefault(str(alert.ap.site), []).append(alert)
        base = str(setting("MACHI_BASE_URL")).rstrip("/")
        from django.urls import reverse

        for site, found in sorted(by_site.items()):
            lines.append(site)
            for alert in found:
                since = timezone.localtime(alert.opened_at).strftime("%Y-%m-%d %H:%M:%S")
                last = (
                    timezone.localtime(alert.ap.last_seen_at).strftime("%H:%M:%S")
                    if alert.ap.last_seen_at
                    else _("never")
                )
                lines.append(
                    "  - "
                    + _("%(ap)s: %(kind)s since %(since)s (%(detail)s; last seen %(last)s)")
                    % {
                        "ap": alert.ap.name,
                        "kind": _kind_label(alert.kind),
                        "since": since,
                        "detail": selectors.reason_label(alert.detail) or "-",
                        "last": last,
                    }
                )
            lines.append("")
        lines.append(_("Live board: %(url)s") % {"url": base + reverse("wifi_monitor:board")})
        return subject.replace("\n", " ")[:200], "\n".join(lines) + "\n"


def _chronicle(alerts: Sequence[WifiAlert]) -> None:
    """In a disaster, HQ's timeline says which APs became unreachable (one line per mail)."""
    silent = [a for a in alerts if a.kind == AlertKind.UNREACHABLE]
    if not silent:
        return
    try:
        from machi.emergency import selectors as emergency_selectors
        from machi.emergency import services as emergency_services

        disaster = emergency_selectors.disaster_current()
        if disaster is None:
            return
        with translation.override(settings.LANGUAGE_CODE):
            names = ", ".join(f"{a.ap.site} {a.ap.name}" for a in silent[:10])
            text = _("Wi-Fi: %(n)s access points unreachable: %(names)s") % {
                "n": len(silent),
                "names": names + (" …" if len(silent) > 10 else ""),
            }
        emergency_services.chronology_record(
            kind="responder", text=text, disaster=disaster, actor="wifi"
        )
    except Exception:  # the timeline is a courtesy: never lose the alert over it
        log.exception("the Wi-Fi alert could not be written to the chronology")


# --- Active checks: SNMP and ping ----------------------------------------------------------------


@dataclass
class CheckSummary:
    checked: int = 0
    answered: list[int] = field(default_factory=list)
    failed: dict[int, str] = field(default_factory=dict)
    marked: list[int] = field(default_factory=list)
    skipped: str = ""


CHECK_LOCK_KEY = "wifi:monitor:check-lock:"


def _checks_locked(kind: str) -> bool:
    return not cache.add(CHECK_LOCK_KEY + kind, 1, timeout=120)


def snmp_check(now: dt.datetime | None = None) -> CheckSummary:
    """Poll every managed AP with the SNMP driver (sysUpTime, interfaces): an answer counts as
    "seen"; no answer makes an AP that does not push CRITICAL at once (the driver retries
    inside the poll), so a dead SNMP AP shows within a minute."""
    now = now or timezone.now()
    try:  # written beside this room's monitoring; absent in older checkouts
        snmp = importlib.import_module("machi.wifi.drivers.snmp")
    except ImportError:
        return CheckSummary(skipped="no SNMP driver")
    from machi.core import crypto
    from machi.wifi.drivers.base import DriverError, Target

    aps = list(
        AccessPoint.objects.filter(enabled=True, driver=Driver.SNMP).values_list(
            "pk", "management_url", "secret_encrypted", "monitoring_key_digest"
        )
    )
    if not aps:
        return CheckSummary()
    if _checks_locked("snmp"):
        return CheckSummary(skipped="another SNMP check is running")
    try:
        timeout = float(setting("MACHI_WIFI_CHECK_TIMEOUT"))
        targets: dict[int, Any] = {}
        summary = CheckSummary(checked=len(aps))
        for pk, url, secret, _digest in aps:
            try:
                targets[pk] = Target(url=url, secret=crypto.decrypt(secret), timeout=timeout)
            except crypto.DecryptionError:
                summary.failed[pk] = "secret unreadable"
        driver = snmp.SnmpDriver()

        async def one(pk: int, target: Any) -> tuple[int, Any]:
            try:
                return pk, await driver.poll(target)
            except DriverError as exc:
                return pk, exc.reason
            except Exception as exc:  # a driver bug must not stop the others
                log.exception("SNMP poll of AP %s failed", pk)
                return pk, type(exc).__name__

        results = _run_bounded([one(pk, t) for pk, t in targets.items()], closing=driver)
        pushing = {pk for pk, _url, _secret, digest in aps if digest}
        for pk, answer in results:
            if isinstance(answer, str):
                summary.failed[pk] = answer
                continue
            summary.answered.append(pk)
            rx, tx = _snmp_traffic(answer)
            ap_seen(
                ap_id=pk,
                report=Report(
                    uptime_s=_whole(getattr(answer, "uptime_s", None)), rx_bytes=rx, tx_bytes=tx
                ),
                now=timezone.now(),
            )
        quiet = [pk for pk in summary.failed if pk not in pushing]
        for reason in sorted({summary.failed[pk] for pk in quiet}):
            summary.marked += ap_unreachable(
                ap_ids=[pk for pk in quiet if summary.failed[pk] == reason],
                reason=f"unreachable: snmp {reason}"[:200],
                not_seen_since=now,
                now=timezone.now(),
            )
        return summary
    finally:
        cache.delete(CHECK_LOCK_KEY + "snmp")


def _whole(value: Any) -> int | None:
    return int(value) if isinstance(value, int | float) else None


def _snmp_traffic(answer: Any) -> tuple[int | None, int | None]:
    """Octets of the AP's interfaces (loopback excluded), when the SNMP report has them."""
    rx = tx = None
    for interface in getattr(answer, "interfaces", None) or ():
        if isinstance(interface, dict):
            get = interface.get
        else:
            get = functools.partial(getattr, interface)
        name = str(get("descr", "") or get("name", "") or "")
        if name == "lo":
            continue
        inbound, outbound = get("in_octets", None), get("out_octets", None)
        if isinstance(inbound, int):
            rx = (rx or 0) + inbound
        if isinstance(outbound, int):
            tx = (tx or 0) + outbound
    return rx, tx


def _run_bounded(coroutines: list[Any], *, closing: Any = None) -> list[Any]:
    """Run the checks, ``MACHI_WIFI_CHECK_CONCURRENCY`` at a time, in one event loop; then
    ``await closing.close()`` (the SNMP engine's socket lives in that loop)."""
    limit = max(1, int(setting("MACHI_WIFI_CHECK_CONCURRENCY")))

    async def main() -> list[Any]:
        gate = asyncio.Semaphore(limit)

        async def bounded(coroutine: Any) -> Any:
            async with gate:
                return await coroutine

        try:
            return list(await asyncio.gather(*(bounded(c) for c in coroutines)))
        finally:
            if closing is not None and hasattr(closing, "close"):
                await closing.close()

    return asyncio.run(main()) if coroutines else []


def ping_host(url: str) -> str | None:
    """The host to ping from a management address (``http://10.0.0.5/ubus``, ``udp://h:161``)."""
    try:
        host = urlsplit(url if "://" in url else f"//{url}").hostname
    except ValueError:
        return None
    if not host or host.startswith("-"):
        return None
    return host


async def _ping(host: str, timeout: float) -> bool:
    """One ICMP echo through the system's ``ping`` (raw sockets need privileges it has)."""
    try:
        process = await asyncio.create_subprocess_exec(
            "ping",
            "-c1",
            f"-W{max(1, math.ceil(timeout))}",
            "--",
            host,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )
    except OSError:
        return False
    try:
        return await asyncio.wait_for(process.wait(), timeout + 2) == 0
    except TimeoutError:
        process.kill()
        await process.wait()
        return False


def ping_check(now: dt.datetime | None = None, *, force: bool = False) -> CheckSummary:
    """Ping the managed APs that neither push nor are polled by SNMP (``MACHI_WIFI_PING``, off
    by default: ICMP may be filtered on a city's network). An answer counts as "seen"; no
    answer makes the AP CRITICAL with an "unreachable" alert."""
    if not (force or setting("MACHI_WIFI_PING")):
        return CheckSummary(skipped="MACHI_WIFI_PING is off")
    now = now or timezone.now()
    aps = list(
        AccessPoint.objects.filter(enabled=True, monitoring_key_digest="")
        .exclude(driver=Driver.SNMP)
        .values_list("pk", "management_url")
    )
    if not aps:
        return CheckSummary()
    if _checks_locked("ping"):
        return CheckSummary(skipped="another ping check is running")
    try:
        timeout = float(setting("MACHI_WIFI_CHECK_TIMEOUT"))
        summary = CheckSummary(checked=len(aps))
        hosts = {pk: ping_host(url) for pk, url in aps}

        async def one(pk: int, host: str | None) -> tuple[int, bool]:
            return pk, bool(host) and await _ping(str(host), timeout)

        for pk, answered in _run_bounded([one(pk, host) for pk, host in hosts.items()]):
            if answered:
                summary.answered.append(pk)
                ap_seen(ap_id=pk, now=timezone.now())
            else:
                summary.failed[pk] = "no ping answer"
        summary.marked = ap_unreachable(
            ap_ids=list(summary.failed),
            reason="unreachable: no ping answer",
            not_seen_since=now,
            now=timezone.now(),
        )
        return summary
    finally:
        cache.delete(CHECK_LOCK_KEY + "ping")


# --- Retention ------------------------------------------------------------------------------


def monitoring_purge(now: dt.datetime | None = None) -> dict[str, int]:
    """Delete client hashes older than ``MACHI_WIFI_CLIENTS_RETENTION_DAYS`` (90) and AP hours
    older than ``MACHI_WIFI_HOURS_RETENTION_DAYS`` (400); 0 keeps them."""
    now = now or timezone.now()
    deleted = {"client_seen": 0, "ap_hours": 0}
    days = int(setting("MACHI_WIFI_CLIENTS_RETENTION_DAYS"))
    if days > 0:
        deleted["client_seen"] = ClientSeen.objects.filter(
            hour__lt=now - dt.timedelta(days=days)
        ).delete()[0]
    days = int(setting("MACHI_WIFI_HOURS_RETENTION_DAYS"))
    if days > 0:
        old = ApHour.objects.filter(hour__lt=now - dt.timedelta(days=days))
        deleted["ap_hours"] = old.delete()[0]
    return deleted
