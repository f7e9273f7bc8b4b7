"""Wi-Fi monitoring: NetJSON reports ingested per second, and how soon a silent AP is an alert.

Sets up the demo city in a fresh temporary MACHI_DATA_DIR (SQLite by default, or the
PostgreSQL server of ``--database-url``), then registers ``--aps`` access points (1,000 by
default) on ``--sites`` Wi-Fi sites (50: 20 APs each), each with its own monitoring key
(``machi shell``; only the key's SHA-256 is stored, as the registry does). It starts
``machi serve`` (gunicorn, sync workers, DEBUG off) and measures:

**(a) ingest.** ``POST /api/v1/wifi/monitoring/<mac>`` with a NetJSON DeviceMonitoring document
(two radios, ``--clients`` clients per AP, growing traffic counters), the APs in turn, from
client threads that send prepared requests over raw sockets (gunicorn's sync workers close
every connection, so each request is a TCP connect; ``http.client`` would cost the client
more CPU than the server's view). Interleaved rounds with the same number of ``GET /healthz``
(the baseline) at the same concurrency: read reports/s against the baseline of the same run.
CPU time of gunicorn's processes (and PostgreSQL's backends) per request comes from /proc.
Target: ≥ 1,000 reports/s. Afterwards the database is checked: one ApHour report per 200,
every AP seen, the unique clients counted per site and hour, and no client MAC stored.

**(b) silence to alert.** The APs are reset to "never seen", then every AP pushes every
``--interval`` seconds (10) from a background pusher, and ``machi worker`` runs the
monitoring sweep (every 10 s). In each of ``--rounds-silence`` rounds one site's APs stop
reporting (a power cut) and ``GET /api/v1/wifi/health`` is polled every 0.25 s until each
of them is listed as "unreachable": ``silence_to_alert_s`` is from an AP's last accepted
report to that moment (threshold ``MACHI_WIFI_SILENCE_SECONDS``, 30 s, plus at most one
10 s sweep; target ≤ 60 s; OpenWISP's default is 30 minutes). Then the site comes back and
``report_to_clear_s`` is from its first report to the alert gone. No other AP may alert.

Prints a short summary, then exactly one line of JSON (the last line of stdout).

    .venv/bin/python bench/wifi_monitor.py
    .venv/bin/python bench/wifi_monitor.py --database-url postgresql://postgres@127.0.0.1:5432/machi_bench
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from checkin import cpu_sample, cpu_spent
from jma import Worker
from pages import (
    REPO,
    SCRUBBED_ENV,
    USER,
    BenchTimeout,
    Phase,
    Server,
    _psql,
    free_port,
    loadavg,
    log,
    machine_info,
    merge,
    pg_database_name,
    summarise,
    tear_down,
)

PUSH_PATH = "/api/v1/wifi/monitoring/"
TARGET_REPORTS_PER_S = 1000
TARGET_SILENCE_TO_ALERT_S = 60.0
RATE_LIMIT = 10_000_000  # the health API is polled 4 times a second

# Run in `machi shell` after `machi demo --no-serve`: sites and APs with their keys.
PREFIX = "0A:BE:4C"  # the benchmark's APs (locally administered): apart from the demo's

SETUP = """
import hashlib, json
from django.db import connection, transaction
from machi.core.models import Facility
from machi.wifi.models import AccessPoint, Site

# The demo city's own simulated APs are not part of this run: unmanaged, never swept.
demo_aps = AccessPoint.objects.update(enabled=False)
facilities = list(Facility.objects.order_by("pk")[:{sites}])
with transaction.atomic():
    sites = [Site.objects.get_or_create(facility=f)[0] for f in facilities]
    rows = []
    for n in range(1, {aps} + 1):
        rows.append(AccessPoint(
            site=sites[(n - 1) % len(sites)],
            name="BENCH-%04d" % n,
            mac="{prefix}:%02X:%02X:%02X" % ((n >> 16) & 255, (n >> 8) & 255, n & 255),
            management_url="http://127.0.0.1:9/ap/%d/ubus" % n,
            driver="openwrt",
            monitoring_key_digest=hashlib.sha256(("machiap_bench_%05d" % n).encode()).hexdigest(),
        ))
    AccessPoint.objects.bulk_create(rows)
with connection.cursor() as c:
    c.execute("select sqlite_version()" if connection.vendor == "sqlite" else "show server_version")
    version = c.fetchone()[0]
mine = AccessPoint.objects.filter(mac__startswith="{prefix}").order_by("name")
print(json.dumps({{
    "vendor": connection.vendor,
    "version": version,
    "demo_aps_disabled": demo_aps,
    "aps": [
        {{"n": int(ap.name[6:]), "id": ap.pk, "mac": ap.mac, "site": ap.site_id,
          "key": "machiap_bench_%05d" % int(ap.name[6:])}}
        for ap in mine
    ],
}}))
"""

# Run in `machi shell` once the ingest server has stopped: is every 200 counted once?
CHECK = """
import json
from django.db.models import Count, Sum
from machi.wifi.models import AccessPoint, ApHour, ClientSeen, WifiAlert
macs = json.loads({macs!r})
dump = "".join(str(row) for row in ClientSeen.objects.values_list("client", flat=True)[:200000])
dump += "".join(str(v) for v in AccessPoint.objects.values_list("health_reason", flat=True))
mine = AccessPoint.objects.filter(mac__startswith={prefix!r})
print(json.dumps({{
    "hour_reports": ApHour.objects.filter(ap__in=mine).aggregate(n=Sum("reports"))["n"] or 0,
    "aps_seen": mine.filter(last_seen_at__isnull=False).count(),
    "aps_ok": mine.filter(health="ok").count(),
    "client_seen_rows": ClientSeen.objects.count(),
    "client_seen_by_site_hour_max": max(
        (r["n"] for r in ClientSeen.objects.values("site_id", "hour").annotate(n=Count("id"))),
        default=0,
    ),
    "alerts": WifiAlert.objects.count(),
    "mac_found": any(m.lower() in dump.lower() or m.replace(":", "").lower() in dump.lower()
                     for m in macs),
}}))
"""

RESET = """
from machi.wifi.models import AccessPoint, WifiAlert
mine = AccessPoint.objects.filter(mac__startswith={prefix!r})
mine.update(last_seen_at=None, health="unknown", health_reason="", clients=0)
WifiAlert.objects.filter(ap__in=mine).delete()
print("reset")
"""

ALERTS = """
import json
from machi.wifi.models import WifiAlert
print(json.dumps(list(WifiAlert.objects.values_list("ap_id", flat=True))))
"""


# --- Documents and requests ------------------------------------------------------------------


def client_pool(site: int, size: int) -> list[str]:
    """The phones around one site (locally administered addresses, as phones use)."""
    return [
        f"a2:{site % 256:02x}:{site // 256:02x}:00:{i // 256:02x}:{i % 256:02x}"
        for i in range(size)
    ]


def document(ap: dict[str, Any], step: int, clients: int, rng: random.Random) -> dict[str, Any]:
    pool = client_pool(ap["site"], clients * 3)
    present = rng.sample(pool, clients)
    half = clients // 2
    radios = []
    for index, macs in enumerate((present[:half], present[half:])):
        radios.append(
            {
                "name": f"phy{index}-ap0",
                "type": "wireless",
                "up": True,
                "mac": ap["mac"].lower(),
                "statistics": {
                    "rx_bytes": 1_000_000 + step * 40_000 + index,
                    "tx_bytes": 4_000_000 + step * 160_000 + index,
                    "rx_packets": step * 50,
                    "tx_packets": step * 200,
                },
                "wireless": {
                    "ssid": "Toda_Free_Wi-Fi",
                    "mode": "access_point",
                    "channel": 1 if index == 0 else 36,
                    "frequency": 2412 if index == 0 else 5180,
                    "tx_power": 20,
                    "noise": -95,
                    "clients": [
                        {"mac": mac, "signal": -50 - rng.randint(0, 30), "noise": -95}
                        for mac in macs
                    ],
                },
            }
        )
    return {
        "type": "DeviceMonitoring",
        "general": {"hostname": ap["mac"], "local_time": int(time.time()), "uptime": 3600 + step},
        "resources": {
            "load": [0.12, 0.1, 0.08],
            "cpus": 1,
            "memory": {
                "total": 128_000_000,
                "free": 60_000_000,
                "buffered": 4_000_000,
                "available": 70_000_000,
                "cached": 8_000_000,
            },
        },
        "interfaces": [
            {"name": "lan", "type": "bridge", "statistics": {"rx_bytes": step, "tx_bytes": step}},
            *radios,
        ],
    }


def push_request(ap: dict[str, Any], body: bytes) -> bytes:
    head = (
        f"POST {PUSH_PATH}{ap['mac']} HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: machi-bench\r\n"
        f"Content-Type: application/json\r\nAuthorization: Bearer {ap['key']}\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    )
    return head.encode() + body


HEALTHZ = (
    b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: machi-bench\r\n"
    b"Connection: close\r\n\r\n"
)


def exchange(port: int, payload: bytes, timeout: float = 15.0) -> tuple[int, bytes]:
    """One request on a new connection (gunicorn's sync workers close it after the answer)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(payload)
        chunks = []
        while True:
            data = sock.recv(65536)
            if not data:
                break
            chunks.append(data)
    answer = b"".join(chunks)
    line = answer.split(b"\r\n", 1)[0].split()
    return (int(line[1]) if len(line) > 1 else 0), answer


def fire(
    port: int, payloads: list[bytes], *, concurrency: int, seconds: float, path: str, expect: int
) -> Phase:
    """Send each payload once from ``concurrency`` threads."""
    phase = Phase(path)
    lock = threading.Lock()
    queue = iter(payloads)
    deadline = time.monotonic() + seconds
    unexpected: list[str] = []

    def worker() -> None:
        latencies: list[float] = []
        statuses: dict[int, int] = {}
        errors: dict[str, int] = {}
        size = 0
        while True:
            with lock:
                payload = next(queue, None)
            if payload is None:
                break
            if time.monotonic() > deadline:
                phase.timed_out = True
                break
            began = time.perf_counter()
            try:
                status, answer = exchange(port, payload)
            except OSError as exc:
                errors[type(exc).__name__] = errors.get(type(exc).__name__, 0) + 1
                continue
            latencies.append(time.perf_counter() - began)
            statuses[status] = statuses.get(status, 0) + 1
            size += len(answer)
            if status != expect and not unexpected:
                unexpected.append(answer[:400].decode(errors="replace"))
        with lock:
            phase.latencies.extend(latencies)
            phase.bytes_total += size
            for key, count in statuses.items():
                phase.statuses[key] = phase.statuses.get(key, 0) + count
            for name, count in errors.items():
                phase.errors[name] = phase.errors.get(name, 0) + count

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(concurrency)]
    cpu_before = time.process_time()
    began = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=max(0.0, deadline - time.monotonic()) + 20)
    phase.elapsed = time.perf_counter() - began
    phase.cpu_client = time.process_time() - cpu_before
    if unexpected:
        phase.errors["unexpected:" + unexpected[0][:300]] = 1
    return phase


def summary_of(
    phase: Phase, expect: int, cpu: dict[str, float], database_url: str
) -> dict[str, Any]:
    summary = summarise(phase)
    ok = phase.statuses.get(expect, 0)
    answered = sum(phase.statuses.values())
    summary["ok"] = ok
    summary["rps"] = round(ok / phase.elapsed, 1) if phase.elapsed else 0.0
    summary["server_cpu_ms_per_request"] = (
        round(cpu.get("server", 0.0) * 1000 / answered, 3) if answered and cpu else None
    )
    summary["database_cpu_ms_per_request"] = (
        round(cpu.get("database", 0.0) * 1000 / answered, 3)
        if answered and cpu and database_url
        else None
    )
    return summary


def split(items: list[bytes], parts: int) -> list[list[bytes]]:
    size, extra = divmod(len(items), parts)
    chunks, start = [], 0
    for index in range(parts):
        end = start + size + (1 if index < extra else 0)
        chunks.append(items[start:end])
        start = end
    return [chunk for chunk in chunks if chunk]


def measure_ingest(
    server: Server,
    payloads: list[bytes],
    *,
    concurrency: int,
    rounds: int,
    deadline: float,
    database_url: str,
) -> dict[str, Any]:
    pushes, base = Phase(PUSH_PATH), Phase("/healthz")
    push_rounds: list[float] = []
    base_rounds: list[float] = []
    cpu = {name: {"server": 0.0, "database": 0.0} for name in ("pushes", "baseline")}
    for chunk in split(payloads, rounds):
        before = cpu_sample(server, database_url)
        phase = fire(
            server.port,
            [HEALTHZ] * len(chunk),
            concurrency=concurrency,
            seconds=max(0.0, deadline - time.monotonic()),
            path="/healthz",
            expect=200,
        )
        middle = cpu_sample(server, database_url)
        merge(base, phase)
        base_rounds.append(round(phase.statuses.get(200, 0) / phase.elapsed, 1))
        phase = fire(
            server.port,
            chunk,
            concurrency=concurrency,
            seconds=max(0.0, deadline - time.monotonic()),
            path=PUSH_PATH,
            expect=200,
        )
        after = cpu_sample(server, database_url)
        merge(pushes, phase)
        push_rounds.append(round(phase.statuses.get(200, 0) / phase.elapsed, 1))
        for name, spent in (
            ("baseline", cpu_spent(before, middle)),
            ("pushes", cpu_spent(middle, after)),
        ):
            for side, value in spent.items():
                cpu[name][side] += value
        log(f"    c={concurrency}: /healthz {base_rounds[-1]} req/s, reports {push_rounds[-1]}/s")
    push_summary = {
        **summary_of(pushes, 200, cpu["pushes"], database_url),
        "rps_by_round": push_rounds,
    }
    base_summary = {
        **summary_of(base, 200, cpu["baseline"], database_url),
        "rps_by_round": base_rounds,
    }
    return {
        "concurrency": concurrency,
        "reports": push_summary,
        "baseline": base_summary,
        "rps_share": round(push_summary["rps"] / base_summary["rps"], 3)
        if base_summary["rps"]
        else None,
        "server_cpu_x": round(
            push_summary["server_cpu_ms_per_request"] / base_summary["server_cpu_ms_per_request"], 2
        )
        if push_summary["server_cpu_ms_per_request"] and base_summary["server_cpu_ms_per_request"]
        else None,
        "baseline_spread": round(max(base_rounds) / min(base_rounds), 2)
        if base_rounds and min(base_rounds) > 0
        else None,
        "ok": push_summary["ok"] == len(payloads) and base_summary["ok"] == len(payloads),
    }


# --- (b) silence to alert ----------------------------------------------------------------------


@dataclass
class Pusher:
    """Every AP pushes once per ``interval`` (AP i at i/N of it), except the stopped ones."""

    port: int
    aps: list[dict[str, Any]]
    interval: float
    clients: int
    threads: int = 4
    stopped: set[int] = field(default_factory=set)
    last_ok: dict[int, float] = field(default_factory=dict)  # AP id → when its last 200 was sent
    first_after: dict[int, float] = field(default_factory=dict)  # after a resume
    statuses: dict[int, int] = field(default_factory=dict)
    errors: int = 0
    _halt: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _workers: list[threading.Thread] = field(default_factory=list)

    def start(self) -> None:
        slices = [self.aps[i :: self.threads] for i in range(self.threads)]
        for index, part in enumerate(slices):
            thread = threading.Thread(target=self._run, args=(part, index), daemon=True)
            thread.start()
            self._workers.append(thread)

    def stop(self) -> None:
        self._halt.set()
        for thread in self._workers:
            thread.join(timeout=30)

    def _run(self, part: list[dict[str, Any]], index: int) -> None:
        rng = random.Random(index)
        start = time.monotonic() + index * self.interval / max(1, len(self.aps))
        step = 0
        while not self._halt.is_set():
            for position, ap in enumerate(part):
                due = start + step * self.interval + position * self.interval / max(1, len(part))
                wait = due - time.monotonic()
                if wait > 0 and self._halt.wait(wait):
                    return
                if ap["id"] in self.stopped:
                    continue
                body = json.dumps(document(ap, step, self.clients, rng)).encode()
                sent = time.monotonic()
                try:
                    status, _answer = exchange(self.port, push_request(ap, body), timeout=10)
                except OSError:
                    with self._lock:
                        self.errors += 1
                    continue
                with self._lock:
                    self.statuses[status] = self.statuses.get(status, 0) + 1
                    if status == 200:
                        # Accepted, even if its AP was stopped meanwhile: the server saw it.
                        self.last_ok[ap["id"]] = sent
                        if ap["id"] not in self.stopped:
                            self.first_after.setdefault(ap["id"], sent)
            step += 1


def health(port: int, token: str) -> dict[str, Any]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request(
            "GET",
            "/api/v1/wifi/health",
            headers={"Host": "127.0.0.1", "Authorization": f"Bearer {token}"},
        )
        response = conn.getresponse()
        body = response.read()
        if response.status != 200:
            raise RuntimeError(f"GET /api/v1/wifi/health: {response.status} {body[:300]!r}")
        answer: dict[str, Any] = json.loads(body)
        return answer
    finally:
        conn.close()


def wait_for(
    check: Any, *, timeout: float, every: float = 0.25, what: str = "a condition"
) -> float:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return time.monotonic()
        time.sleep(every)
    raise RuntimeError(f"timed out after {timeout:.0f} s waiting for {what}")


def measure_silence(
    args: argparse.Namespace,
    server: Server,
    worker: Worker,
    token: str,
    aps: list[dict[str, Any]],
) -> dict[str, Any]:
    server.run("shell", "-c", RESET.format(prefix=PREFIX), timeout=120)
    pusher = Pusher(server.port, aps, args.interval, args.clients)
    by_site: dict[int, list[int]] = {}
    for ap in aps:
        by_site.setdefault(ap["site"], []).append(ap["id"])
    rounds: list[dict[str, Any]] = []
    pusher.start()
    try:
        worker.start()
        log(
            f"  (b) every AP pushes every {args.interval:g} s; waiting for the worker's first sweep"
        )
        started = time.monotonic()
        wait_for(
            lambda: (
                (h := health(server.port, token))["sweep_age_s"] is not None
                and h["counts"]["ok"] == len(aps)
            ),
            timeout=150,
            what="all APs OK and the worker's first sweep",
        )
        warm_s = time.monotonic() - started
        sites = sorted(by_site)
        for number in range(args.rounds_silence):
            site = sites[(number * 7) % len(sites)]
            silent = set(by_site[site])
            with pusher._lock:
                pusher.stopped |= silent
            stopped_at = time.monotonic()
            seen: dict[int, float] = {}

            def all_listed(silent: set[int] = silent, seen: dict[int, float] = seen) -> bool:
                now = time.monotonic()
                alerts = health(server.port, token)["open_alerts"]
                for alert in alerts:
                    if alert["kind"] == "unreachable" and alert["ap_id"] in silent:
                        seen.setdefault(alert["ap_id"], now)
                return set(seen) >= silent

            wait_for(all_listed, timeout=150, what=f"the alerts of site {site}")
            latencies = [seen[ap] - pusher.last_ok[ap] for ap in silent]
            with pusher._lock:
                for ap in silent:
                    pusher.first_after.pop(ap, None)
                pusher.stopped -= silent

            def cleared(silent: set[int] = silent) -> bool:
                alerts = health(server.port, token)["open_alerts"]
                return not any(a["ap_id"] in silent for a in alerts)

            cleared_at = wait_for(cleared, timeout=60, what=f"site {site}'s alerts to clear")
            back = [pusher.first_after[ap] for ap in silent if ap in pusher.first_after]
            rounds.append(
                {
                    "site": site,
                    "aps": len(silent),
                    "silence_to_alert_s": {
                        "min": round(min(latencies), 2),
                        "median": round(statistics.median(latencies), 2),
                        "max": round(max(latencies), 2),
                    },
                    "stop_to_all_alerts_s": round(max(seen.values()) - stopped_at, 2),
                    "report_to_clear_s": round(cleared_at - max(back), 2) if back else None,
                }
            )
            log(f"  round {number + 1}: {rounds[-1]}")
    finally:
        pusher.stop()
    alerted = set(
        json.loads(server.run("shell", "-c", ALERTS, timeout=120).strip().splitlines()[-1])
    )
    expected = {ap for r in rounds for ap in by_site[r["site"]]}
    worst = max((r["silence_to_alert_s"]["max"] for r in rounds), default=None)
    return {
        "interval_s": args.interval,
        "aps_pushing": len(aps),
        "warm_up_s": round(warm_s, 1),
        "rounds": rounds,
        "max_silence_to_alert_s": worst,
        "false_alerts": len(alerted - expected),
        "push_statuses": {str(k): v for k, v in sorted(pusher.statuses.items())},
        "push_errors": pusher.errors,
        "worker_log_error_lines": worker.problems(),
        "target_s": TARGET_SILENCE_TO_ALERT_S,
        "target_met": worst is not None and worst <= TARGET_SILENCE_TO_ALERT_S,
    }


# --- Main ----------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--aps", type=int, default=1000, help="registered APs (default 1000)")
    parser.add_argument("--sites", type=int, default=50, help="Wi-Fi sites (default 50)")
    parser.add_argument("--clients", type=int, default=16, help="clients per AP report (16)")
    parser.add_argument(
        "--requests", type=int, default=6000, help="reports per client concurrency (6000)"
    )
    parser.add_argument(
        "--concurrency", default="8,16", help="client threads, comma-separated (default 8,16)"
    )
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds per run")
    parser.add_argument("--warmup", type=int, default=500, help="unmeasured reports")
    parser.add_argument("--interval", type=float, default=10.0, help="(b) push interval, s")
    parser.add_argument(
        "--rounds-silence", type=int, default=3, help="(b) sites silenced one after another"
    )
    parser.add_argument("--skip-silence", action="store_true", help="only measure (a)")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers (default 2)")
    parser.add_argument(
        "--measure-seconds", type=float, default=300.0, help="time bound of measurement (a)"
    )
    parser.add_argument("--max-seconds", type=float, default=1500.0, help="whole run bound")
    parser.add_argument(
        "--database-url",
        default="",
        help="PostgreSQL URL of a scratch database, created and dropped by this run "
        "(e.g. postgresql://postgres@127.0.0.1:5432/machi_bench); default SQLite",
    )
    parser.add_argument(
        "--machi", type=Path, default=REPO / ".venv" / "bin" / "machi", help="machi command"
    )
    parser.add_argument("--keep", action="store_true", help="keep the temporary data folder")
    args = parser.parse_args(argv)
    try:
        args.concurrencies = [int(c) for c in args.concurrency.split(",") if c.strip()]
    except ValueError:
        parser.error("--concurrency takes integers separated by commas, e.g. 8,16")
    if not args.concurrencies or min(args.concurrencies) < 1 or args.aps < 1:
        parser.error("--concurrency and --aps must be positive")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if not args.machi.exists():
        raise SystemExit(f"{args.machi} not found: run `make install` first")

    def on_alarm(signum: int, frame: object) -> None:
        raise BenchTimeout(f"the run took longer than {args.max_seconds:.0f} s")

    def on_term(signum: int, frame: object) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGALRM, on_alarm)
    signal.signal(signal.SIGTERM, on_term)
    signal.alarm(int(args.max_seconds))

    data_dir = Path(tempfile.mkdtemp(prefix="machi-bench-wifimon-"))
    env = {k: v for k, v in os.environ.items() if k not in SCRUBBED_ENV}
    env["MACHI_DATA_DIR"] = str(data_dir)
    env["MACHI_LOG_LEVEL"] = "WARNING"
    env["MACHI_API_RATE_LIMIT"] = str(RATE_LIMIT)
    env["MACHI_JMA_POLL"] = "0"  # the worker runs the Wi-Fi sweep only
    pg_name = ""
    if args.database_url:
        pg_name = pg_database_name(args.database_url)
        env["DATABASE_URL"] = args.database_url
    server = Server(args.machi, env, free_port(), args.workers, data_dir / "server.log")
    worker = Worker(args.machi, env, data_dir / "worker.log")
    result: dict[str, Any] = {"benchmark": "wifi_monitor", "ok": False}
    code = 1
    try:
        if pg_name:
            _psql(args.database_url, f'DROP DATABASE IF EXISTS "{pg_name}" WITH (FORCE)')
            _psql(args.database_url, f'CREATE DATABASE "{pg_name}"')
        began = time.perf_counter()
        server.run("demo", "--no-serve", timeout=300)
        demo_s = time.perf_counter() - began
        log(f"  set-up: {args.aps} APs on {args.sites} sites")
        out = server.run(
            "shell", "-c", SETUP.format(aps=args.aps, sites=args.sites, prefix=PREFIX), timeout=300
        )
        facts = json.loads(out.strip().splitlines()[-1])
        aps: list[dict[str, Any]] = facts["aps"]
        if len(aps) != args.aps:
            raise RuntimeError(f"set-up registered {len(aps)} APs, not {args.aps}")
        token = server.run("token", "create", USER, "--name", "bench", timeout=120)
        token = token.strip().splitlines()[-1].strip()
        startup_s = server.start(timeout=120)

        rng = random.Random(1)
        step = [0]

        def payloads(count: int) -> list[bytes]:
            made = []
            for i in range(count):
                ap = aps[i % len(aps)]
                body = json.dumps(document(ap, step[0] + i // len(aps), args.clients, rng)).encode()
                made.append(push_request(ap, body))
            step[0] += count // len(aps) + 1
            return made

        warm = payloads(args.warmup)
        log(f"  warm-up: {len(warm)} reports, {len(warm)} /healthz")
        fire(
            server.port,
            [HEALTHZ] * len(warm),
            concurrency=8,
            seconds=60,
            path="/healthz",
            expect=200,
        )
        warmed = fire(server.port, warm, concurrency=8, seconds=120, path=PUSH_PATH, expect=200)
        if warmed.statuses.get(200, 0) != len(warm):
            raise RuntimeError(f"warm-up reports: {warmed.statuses} {warmed.errors}")
        sizes = [len(p) for p in warm]
        load_before = loadavg()
        deadline = time.monotonic() + args.measure_seconds
        runs: dict[str, dict[str, Any]] = {}
        sent = len(warm)
        for concurrency in args.concurrencies:
            batch = payloads(args.requests)
            runs[str(concurrency)] = measure_ingest(
                server,
                batch,
                concurrency=concurrency,
                rounds=args.rounds,
                deadline=deadline,
                database_url=args.database_url,
            )
            sent += runs[str(concurrency)]["reports"]["ok"]
        load_after = loadavg()
        macs = [
            mac
            for site in {ap["site"] for ap in aps}
            for mac in client_pool(site, args.clients * 3)
        ]
        check = json.loads(
            server.run(
                "shell",
                "-c",
                CHECK.format(macs=json.dumps(macs[:2000]), prefix=PREFIX),
                timeout=300,
            )
            .strip()
            .splitlines()[-1]
        )
        consistent = (
            check["hour_reports"] == sent
            and check["aps_seen"] == min(len(aps), sent)
            and check["aps_ok"] == check["aps_seen"]
            and not check["mac_found"]
            # Each site's phones come from a pool of clients × 3: never more unique ones.
            and 0 < check["client_seen_by_site_hour_max"] <= args.clients * 3
        )
        best_key = max(runs, key=lambda k: runs[k]["reports"]["rps"])
        best = runs[best_key]
        silence: dict[str, Any] = {}
        if not args.skip_silence:
            silence = measure_silence(args, server, worker, token, aps)
        all_ok = (
            all(run["ok"] for run in runs.values())
            and consistent
            and (args.skip_silence or (silence["target_met"] and silence["false_alerts"] == 0))
        )
        result.update(
            {
                "ok": all_ok,
                "machine": {
                    **machine_info(),
                    "database": facts["vendor"],
                    "database_version": facts["version"],
                    "loadavg_before": load_before,
                    "loadavg_after": load_after,
                },
                "server": {
                    "command": "machi serve",
                    "worker_class": "sync",
                    "workers": args.workers,
                    "debug": False,
                    "env": {"MACHI_API_RATE_LIMIT": RATE_LIMIT},
                },
                "client": {
                    "kind": "threads + raw sockets, one connection per request",
                    "concurrency": args.concurrencies,
                    "reports_per_concurrency": args.requests,
                    "rounds": args.rounds,
                    "warmup": args.warmup,
                    "report_bytes_mean": round(statistics.mean(sizes)) if sizes else 0,
                    "clients_per_report": args.clients,
                },
                "setup": {
                    "aps": len(aps),
                    "sites": len({a["site"] for a in aps}),
                    "demo_aps_disabled": facts.get("demo_aps_disabled"),
                    "demo_s": round(demo_s, 2),
                    "server_start_s": round(startup_s, 2),
                },
                "headline": {
                    "concurrency": best["concurrency"],
                    "reports_per_s": best["reports"]["rps"],
                    "p50_ms": best["reports"]["p50_ms"],
                    "p99_ms": best["reports"]["p99_ms"],
                    "baseline_rps": best["baseline"]["rps"],
                    "rps_share": best["rps_share"],
                    "server_cpu_ms_per_report": best["reports"]["server_cpu_ms_per_request"],
                    "server_cpu_ms_per_healthz": best["baseline"]["server_cpu_ms_per_request"],
                    "database_cpu_ms_per_report": best["reports"]["database_cpu_ms_per_request"],
                    "max_silence_to_alert_s": silence.get("max_silence_to_alert_s"),
                },
                "target": {
                    "reports_per_s": TARGET_REPORTS_PER_S,
                    "met": best["reports"]["rps"] >= TARGET_REPORTS_PER_S,
                    "silence_to_alert_s": TARGET_SILENCE_TO_ALERT_S,
                    "silence_met": silence.get("target_met"),
                },
                "ingest": runs,
                "db_check": {**check, "reports_sent": sent, "consistent": consistent},
                "silence": silence,
            }
        )
        code = 0 if all_ok else 1
    except (
        BenchTimeout,
        RuntimeError,
        subprocess.SubprocessError,
        OSError,
        KeyError,
        ValueError,
    ) as exc:
        result["error"] = f"{type(exc).__name__}: {exc}"[-3000:]
        result["server_log_tail"] = server.tail(15)
    except (KeyboardInterrupt, SystemExit) as exc:
        result["error"] = f"interrupted ({type(exc).__name__})"
        code = 130
    finally:
        with contextlib.suppress(Exception):
            result["worker_exit"] = worker.stop()
        tear_down(server, result, args.database_url, data_dir, keep=args.keep)

    print_summary(result)
    print(json.dumps(result, ensure_ascii=False, separators=(",", ":")))
    return code


def print_summary(result: dict[str, Any]) -> None:
    machine = result.get("machine", {})
    if machine:
        print(
            f"Machi Wi-Fi monitoring on {machine['database']} {machine['database_version']}, "
            f"{result['server']['workers']} gunicorn workers, {machine['cores']} cores "
            f"({machine['cpu_model']}), load {machine['loadavg_before']}"
        )
    for key, run in result.get("ingest", {}).items():
        reports, base = run["reports"], run["baseline"]
        print(
            f"  (a) c={key:<3} {reports['rps']:>7} reports/s  p50 {reports['p50_ms']:>6} ms  "
            f"p99 {reports['p99_ms']:>7} ms ({reports['ok']}/{reports['requests']}) | /healthz "
            f"{base['rps']:>7} req/s | share {run['rps_share']} | server CPU "
            f"{reports['server_cpu_ms_per_request']} vs {base['server_cpu_ms_per_request']} ms"
        )
    if "headline" in result:
        target = result["target"]
        print(
            f"  target ≥ {target['reports_per_s']} reports/s: "
            f"{'met' if target['met'] else 'NOT met'}; db check "
            f"{'consistent' if result['db_check']['consistent'] else 'INCONSISTENT'}"
        )
    silence = result.get("silence")
    if silence:
        print(
            f"  (b) silence → alert: max {silence['max_silence_to_alert_s']} s over "
            f"{len(silence['rounds'])} power cuts (target ≤ {silence['target_s']:g} s: "
            f"{'met' if silence['target_met'] else 'NOT met'}), false alerts "
            f"{silence['false_alerts']}"
        )
    if "error" in result:
        print(f"  FAILED: {result['error'].splitlines()[0]}")


if __name__ == "__main__":
    sys.exit(main())
