"""Disaster soak: a disaster replayed at speed against a running installation, for minutes.

Runs against Machi already served at ``--url`` (nginx in front of the web servers, as
``.ci/cluster`` starts it: ``CLUSTER_SOAK_MINUTES=30 .ci/cluster`` runs it for 30 minutes).
``machi shell`` and ``machi token`` run with this process's environment (DATABASE_URL,
REDIS_URL, MACHI_DATA_DIR…), whose database must hold the demo city; the web servers need
``MACHI_API_RATE_LIMIT`` raised (every check-in comes with one token, every AP report from one
address). The set-up reuses the newest disaster with open shelters, or declares one and opens
``--shelters`` shelters; it registers ``--aps`` access points with monitoring keys.

Then, all at once for ``--minutes`` (30 by default; CI runs 2), each kind of request at its
own steady rate from its own client threads (``http.client``, keep-alive to nginx):

* **checkin**     ``POST /api/v1/checkins``: a resident registered and checked in, with the
  client's UUID; one in 20 is a tablet sending an earlier check-in again (expects 200);
* **dashboard**   HQ's shelter dashboard, signed in as ``hq`` (password, then TOTP): the whole
  page and the table as htmx refreshes it, in turn;
* **wifi_report** ``POST /api/v1/wifi/monitoring/<mac>``: NetJSON reports, every AP every
  ``--wifi-interval`` seconds;
* **healthz**     ``GET /healthz``: the baseline of the same run, a trivial view;
* **broadcast**   one emergency broadcast to every subscriber, sent through the API at
  ``--broadcast-at`` of the run and followed (``broadcast_status``) until the workers are done.

A request that fails (no answer, or 502/503/504 from the proxy) is sent again, up to
``--retries`` times, with the same body: a check-in by its UUID and a broadcast by its
reference are recorded once whatever happens. Afterwards the database must hold every
check-in the client made, exactly once.

Figures: per kind count, errors (failed for good, or an unexpected status), retries, p50, p95,
p99 (also of the first and last third of the run: latency drift), the error rate of all
requests, and each p99 against the baseline's. Memory: the resident set (VmRSS, from /proc) of
every web server process (gunicorn's master and workers) and every worker process
(``--web-pids``, ``--worker-pids``), sampled every ``--sample-seconds``: its value once the
warm-up (``--warmup-seconds``) is over, at the end, the growth between them, and the slope of
a least-squares line through the samples (MB per minute).

Prints a summary, then exactly one line of JSON (the last line of stdout).

    .venv/bin/python bench/soak.py --url http://127.0.0.1:8080 --minutes 30 \\
        --web-pids 1234,1240 --worker-pids 1250,1251
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parent))

from pages import (
    REPO,
    USER,
    BenchTimeout,
    loadavg,
    log,
    machine_info,
    percentile,
    sign_in,
    with_retries,
)
from wifi_monitor import document

AP_PREFIX = "0A:50:AC"  # the soak's access points (locally administered): apart from others'

SETUP = """
import hashlib, json
from django.db import connection, transaction
from machi.core.models import Facility, TotpDevice, User
from machi.emergency.models import Disaster
from machi.emergency.services import disaster_declare
from machi.shelters import services
from machi.shelters.models import Opening, Shelter
from machi.wifi.models import AccessPoint, Site

hq = User.objects.get(username={user!r})
disaster = None
for candidate in Disaster.objects.filter(ended_at__isnull=True).order_by("-pk"):
    if Opening.objects.filter(disaster=candidate, status="open").exists():
        disaster = candidate
        break
declared = disaster is None
if declared:
    disaster = disaster_declare(name="ソーク試験", hazards=["flood"], declared_by=hq)
    for facility in Facility.objects.filter(is_shelter=True).order_by("pk")[:{shelters}]:
        shelter = Shelter.objects.get_or_create(facility=facility)[0]
        services.opening_open(shelter=shelter, disaster=disaster)
openings = Opening.objects.filter(disaster=disaster, status="open").select_related("shelter")
with transaction.atomic():
    for opening in openings:
        if opening.shelter.capacity_night < {capacity}:
            opening.shelter.capacity_night = {capacity}  # never full during the soak
            opening.shelter.save()
facilities = list(Facility.objects.order_by("pk")[:{sites}])
with transaction.atomic():
    sites = [Site.objects.get_or_create(facility=f)[0] for f in facilities]
    for n in range(1, {aps} + 1):
        mac = "{prefix}:%02X:%02X:%02X" % ((n >> 16) & 255, (n >> 8) & 255, n & 255)
        key = "machiap_soak_%05d" % n
        AccessPoint.objects.update_or_create(mac=mac, defaults=dict(
            site=sites[(n - 1) % len(sites)], name="SOAK-%04d" % n,
            management_url="http://127.0.0.1:9/ap/%d/ubus" % n, driver="openwrt",
            monitoring_key_digest=hashlib.sha256(key.encode()).hexdigest(), enabled=True))
mine = AccessPoint.objects.filter(mac__startswith="{prefix}").order_by("name")
with connection.cursor() as c:
    c.execute("select sqlite_version()" if connection.vendor == "sqlite" else "show server_version")
    version = c.fetchone()[0]
print(json.dumps({{
    "vendor": connection.vendor, "version": version,
    "disaster_id": disaster.pk, "declared": declared,
    "shelter_ids": [o.shelter_id for o in openings],
    "secret": TotpDevice.objects.get(user=hq).secret,
    "aps": [{{"mac": ap.mac, "site": ap.site_id, "key": "machiap_soak_%05d" % int(ap.name[5:])}}
            for ap in mine],
}}))
"""

# Once the run is over: is every check-in the client made in the database, once?
CHECK = """
import json
from machi.shelters.models import Checkin
ids = json.load(open({path!r}))
found = 0
for start in range(0, len(ids), 5000):
    found += Checkin.objects.filter(pk__in=ids[start:start + 5000]).count()
print(json.dumps({{"made": len(ids), "found": found}}))
"""


# --- Client ------------------------------------------------------------------------------------


class Connection:
    """One keep-alive connection to nginx; reconnects after an error or a closing answer."""

    def __init__(self, port: int, headers: dict[str, str] | None = None) -> None:
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        self.headers = {"Host": "127.0.0.1", "User-Agent": "machi-soak", **(headers or {})}

    def request(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, dict[str, str], bytes]:
        try:
            self.conn.request(method, path, body=body, headers={**self.headers, **(headers or {})})
            response = self.conn.getresponse()
            data = response.read()
        except (OSError, http.client.HTTPException):
            self.conn.close()
            raise
        if response.will_close:
            self.conn.close()
        return response.status, dict(response.headers.items()), data

    def close(self) -> None:
        self.conn.close()


@dataclass
class Kind:
    """What one kind of request did: (time since start, latency) of each answered request."""

    name: str
    samples: list[tuple[float, float]] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)
    errors: dict[str, int] = field(default_factory=dict)
    retried: int = 0
    failed_attempts: dict[str, int] = field(default_factory=dict)
    first_unexpected: str = ""
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(
        self, began: float, start: float, outcome: Any, expect: tuple[int, ...]
    ) -> int | None:
        """Record one request; returns its status when it was one of ``expect``."""
        ended = time.perf_counter()
        attempts = len(outcome.failures) + (outcome.answer is not None)
        with self.lock:
            for name in outcome.failures[: attempts - 1]:
                self.failed_attempts[name] = self.failed_attempts.get(name, 0) + 1
            self.retried += attempts > 1
            if outcome.answer is None:
                name = outcome.failures[-1]
                self.errors[name] = self.errors.get(name, 0) + 1
                return None
            status, _, data = outcome.answer
            self.statuses[status] = self.statuses.get(status, 0) + 1
            self.samples.append((began - start, ended - began))
            if status in expect:
                return int(status)
            key = f"status {status}"
            self.errors[key] = self.errors.get(key, 0) + 1
            if not self.first_unexpected:
                self.first_unexpected = f"{status}: {data[:300].decode(errors='replace')}"
            return None

    def summary(self, seconds: float) -> dict[str, Any]:
        ordered = sorted(latency for _, latency in self.samples)
        errors = sum(self.errors.values())
        requests = sum(self.statuses.values()) + sum(
            n for k, n in self.errors.items() if not k.startswith("status ")
        )

        def ms(values: list[float], fraction: float) -> float | None:
            return round(percentile(values, fraction) * 1000, 2) if values else None

        third = seconds / 3
        early = sorted(lat for at, lat in self.samples if at < third)
        late = sorted(lat for at, lat in self.samples if at >= 2 * third)
        summary: dict[str, Any] = {
            "requests": requests,
            "ok": requests - errors,
            "errors": errors,
            "error_rate": round(errors / requests, 6) if requests else 0.0,
            "per_s": round(requests / seconds, 2) if seconds else 0.0,
            "p50_ms": ms(ordered, 0.50),
            "p95_ms": ms(ordered, 0.95),
            "p99_ms": ms(ordered, 0.99),
            "max_ms": round(ordered[-1] * 1000, 2) if ordered else None,
            "p99_first_third_ms": ms(early, 0.99),
            "p99_last_third_ms": ms(late, 0.99),
            "statuses": {str(k): v for k, v in sorted(self.statuses.items())},
            "retried": self.retried,
        }
        if self.errors:
            summary["error_kinds"] = self.errors
        if self.failed_attempts:
            summary["failed_attempts"] = self.failed_attempts
        if self.first_unexpected:
            summary["first_unexpected"] = self.first_unexpected
        return summary


class Paced:
    """A client thread that sends at ``rate`` per second until ``stop`` is set; it never
    catches up a backlog in a burst (a slow answer delays the next request, as a person's
    would)."""

    def __init__(self, rate: float, stop: threading.Event) -> None:
        self.interval = 1.0 / rate if rate > 0 else 0.0
        self.stop = stop
        self.due = time.monotonic() + random.random() * self.interval

    def wait(self) -> bool:
        """Sleep until the next request is due; False once the run is over."""
        now = time.monotonic()
        if self.due > now:
            if self.stop.wait(self.due - now):
                return False
        elif now - self.due > 1.0:
            self.due = now  # behind by more than a second: skip, do not burst
        self.due += self.interval
        return not self.stop.is_set()


# --- Memory ------------------------------------------------------------------------------------


def _status(pid: int) -> dict[str, str]:
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        fields[key] = value.strip()
    return fields


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int(entry.joinpath("stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        if ppid == pid:
            found.append(int(entry.name))
    return found


def _bind_of(pid: int) -> str:
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return "?"
    for index, arg in enumerate(argv):
        if arg == b"--bind" and index + 1 < len(argv):
            return argv[index + 1].decode().rsplit(":", 1)[-1]
    return "?"


class Memory:
    """VmRSS of the web servers' processes (each master and its workers) and of the workers,
    sampled every ``every`` seconds in a thread of its own."""

    def __init__(self, web: list[int], workers: list[int], every: float) -> None:
        self.web, self.workers, self.every = web, workers, every
        self.samples: dict[int, list[tuple[float, float]]] = {}
        self.roles: dict[int, str] = {}
        self.start = time.monotonic()
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.stop = threading.Event()

    def processes(self) -> dict[int, str]:
        found: dict[int, str] = {}
        for master in self.web:
            port = _bind_of(master)
            found[master] = f"web:{port} master"
            for n, child in enumerate(sorted(_children(master)), 1):
                found[child] = f"web:{port} worker {n}"
        for n, pid in enumerate(self.workers, 1):
            found[pid] = f"worker {n}"
            for child in _children(pid):  # thread workers: none; process workers: each
                found[child] = f"worker {n} child"
        return found

    def sample(self) -> None:
        at = time.monotonic() - self.start
        for pid, role in self.processes().items():
            try:
                rss_kb = int(_status(pid)["VmRSS"].split()[0])
            except (OSError, KeyError, ValueError, IndexError):
                continue  # gone meanwhile
            self.roles.setdefault(pid, role)
            self.samples.setdefault(pid, []).append((at, rss_kb / 1024))

    def run(self) -> None:
        while not self.stop.is_set():
            self.sample()
            self.stop.wait(self.every)

    def report(self, warmup: float) -> list[dict[str, Any]]:
        rows = []
        for pid, series in sorted(self.samples.items(), key=lambda kv: self.roles[kv[0]]):
            after = [(t, mb) for t, mb in series if t >= warmup] or series[-1:]
            first, last = after[0], after[-1]
            slope = None
            if len(after) >= 3 and after[-1][0] > after[0][0]:
                mean_t = sum(t for t, _ in after) / len(after)
                mean_m = sum(m for _, m in after) / len(after)
                num = sum((t - mean_t) * (m - mean_m) for t, m in after)
                den = sum((t - mean_t) ** 2 for t, _ in after)
                slope = round(num / den * 60, 3) if den else None
            rows.append(
                {
                    "pid": pid,
                    "role": self.roles[pid],
                    "rss_start_mb": round(first[1], 1),
                    "rss_end_mb": round(last[1], 1),
                    "growth_mb": round(last[1] - first[1], 1),
                    "growth_pct": round((last[1] - first[1]) / first[1] * 100, 1)
                    if first[1]
                    else None,
                    "rss_max_mb": round(max(mb for _, mb in series), 1),
                    "slope_mb_per_min": slope,
                    "samples": len(series),
                    "alive_at_end": Path(f"/proc/{pid}").exists(),
                }
            )
        return rows


# --- The run -----------------------------------------------------------------------------------


def machi(env: dict[str, str], *args: str, timeout: float = 600) -> str:
    done = subprocess.run(
        [str(REPO / ".venv" / "bin" / "machi"), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if done.returncode:
        raise RuntimeError(f"machi {args[0]} failed:\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}")
    return done.stdout


class Soak:
    def __init__(self, args: argparse.Namespace, facts: dict[str, Any], token: str) -> None:
        self.args = args
        self.facts = facts
        self.token = token
        self.port = int(urlsplit(args.url).port or 80)
        self.stop = threading.Event()
        self.kinds = {
            name: Kind(name)
            for name in ("checkin", "dashboard", "wifi_report", "healthz", "broadcast_status")
        }
        self.checkins_made: list[str] = []
        self.made_lock = threading.Lock()
        self.broadcast: dict[str, Any] = {}
        self.start = time.perf_counter()

    def call(self, conn: Connection, *request: Any, **kw: Any) -> Any:
        return with_retries(
            lambda: conn.request(*request, **kw), retries=self.args.retries, backoff=0.2
        )

    # One loop per kind of request; several threads may run the same loop.

    def checkins(self, rate: float, seed: int) -> None:
        rng = random.Random(seed)
        conn = Connection(
            self.port,
            {"Authorization": f"Bearer {self.token}", "Content-Type": "application/json"},
        )
        shelters = self.facts["shelter_ids"]
        pace = Paced(rate, self.stop)
        sent: list[bytes] = []
        n = 0
        while pace.wait():
            n += 1
            replay = sent and n % 20 == 0
            if replay:
                body = rng.choice(sent)
            else:
                key = str(uuid.uuid4())
                body = json.dumps(
                    {
                        "id": key,
                        "shelter_id": rng.choice(shelters),
                        "disaster_id": self.facts["disaster_id"],
                        "person": {"family_name": "戸田", "given_name": f"避難{seed}-{n}"},
                    },
                    ensure_ascii=False,
                ).encode()
            began = time.perf_counter()
            outcome = self.call(conn, "POST", "/api/v1/checkins", body)
            expect = (200,) if replay else (200, 201)  # 200 for a new one: found on a retry
            status = self.kinds["checkin"].record(began, self.start, outcome, expect)
            if status is not None and not replay:
                with self.made_lock:
                    self.checkins_made.append(key)
                if len(sent) < 500:
                    sent.append(body)
        conn.close()

    def dashboard(self, rate: float, cookies: dict[str, str]) -> None:
        conn = Connection(self.port, {"Cookie": "; ".join(f"{k}={v}" for k, v in cookies.items())})
        path = f"/console/shelters/dashboard/?disaster={self.facts['disaster_id']}"
        pace = Paced(rate, self.stop)
        n = 0
        while pace.wait():
            n += 1
            headers = {"HX-Request": "true"} if n % 2 else {}
            began = time.perf_counter()
            outcome = self.call(conn, "GET", path, headers=headers)
            self.kinds["dashboard"].record(began, self.start, outcome, (200,))
        conn.close()

    def wifi(self, aps: list[dict[str, Any]], interval: float, seed: int) -> None:
        rng = random.Random(seed)
        conn = Connection(self.port, {"Content-Type": "application/json"})
        pace = Paced(len(aps) / interval, self.stop)
        step = 0
        while True:
            for ap in aps:
                if not pace.wait():
                    conn.close()
                    return
                body = json.dumps(document(ap, step, self.args.wifi_clients, rng)).encode()
                began = time.perf_counter()
                outcome = self.call(
                    conn,
                    "POST",
                    f"/api/v1/wifi/monitoring/{ap['mac']}",
                    body,
                    headers={"Authorization": f"Bearer {ap['key']}"},
                )
                self.kinds["wifi_report"].record(began, self.start, outcome, (200,))
            step += 1

    def healthz(self, rate: float) -> None:
        conn = Connection(self.port)
        pace = Paced(rate, self.stop)
        while pace.wait():
            began = time.perf_counter()
            outcome = self.call(conn, "GET", "/healthz")
            self.kinds["healthz"].record(began, self.start, outcome, (200,))
        conn.close()

    def send_broadcast(self, delay: float) -> None:
        """One emergency broadcast, then its status every 2 s (HQ watching it go out)."""
        if self.stop.wait(delay):
            return
        conn = Connection(
            self.port,
            {"Authorization": f"Bearer {self.token}", "Content-Type": "application/json"},
        )
        payload = {
            "reference": f"soak-{uuid.uuid4().hex[:24]}",
            "subject": "【緊急】避難指示（ソーク試験）",
            "body": "荒川が氾濫危険水位を超えました。直ちに避難してください。" * 3,
            "subject_en": "[Emergency] Evacuation order (soak)",
            "body_en": "The Arakawa river is above the flood danger level. Evacuate now. " * 3,
            "topics": ["news"],
            "emergency": True,
            "everyone": True,
            "channels": ["email", "webpush"],
        }
        began_wall = time.time()
        outcome = with_retries(
            lambda: conn.request("POST", "/api/v1/notify/broadcasts", json.dumps(payload).encode()),
            retries=self.args.retries,
            backoff=0.2,
        )
        if outcome.answer is None or outcome.answer[0] not in (200, 201):
            self.broadcast = {"error": f"not sent: {outcome.failures} {outcome.answer}"}
            conn.close()
            return
        broadcast_id = json.loads(outcome.answer[2])["id"]
        self.broadcast = {"id": broadcast_id, "sent_at_s": round(time.perf_counter() - self.start)}
        log(f"  broadcast {broadcast_id} sent at {self.broadcast['sent_at_s']} s")
        # Followed to its end, even if the run is over meanwhile (for at most --broadcast-wait).
        deadline = time.monotonic() + self.args.minutes * 60 + self.args.broadcast_wait
        while time.monotonic() < deadline:
            began = time.perf_counter()
            outcome = self.call(conn, "GET", f"/api/v1/notify/broadcasts/{broadcast_id}")
            status = self.kinds["broadcast_status"].record(began, self.start, outcome, (200,))
            if status is not None:
                state = json.loads(outcome.answer[2])
                self.broadcast.update(
                    status=state["status"],
                    total=state["total"],
                    delivered=state["delivered"],
                    failed=state["failed"],
                )
                if state["status"] in ("sent", "cancelled"):
                    self.broadcast["finished_after_s"] = round(time.time() - began_wall, 1)
                    break
            time.sleep(2.0)
        conn.close()


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", required=True, help="http://127.0.0.1:PORT (nginx)")
    parser.add_argument("--minutes", type=float, default=30.0, help="length of the run (30)")
    parser.add_argument(
        "--warmup-seconds",
        type=float,
        default=60.0,
        help="memory is measured from this point on (60)",
    )
    parser.add_argument("--web-pids", default="", help="web servers' (gunicorn masters') pids")
    parser.add_argument("--worker-pids", default="", help="workers' pids")
    parser.add_argument("--sample-seconds", type=float, default=5.0, help="memory sampling (5)")
    parser.add_argument("--checkins-per-s", type=float, default=40.0)
    parser.add_argument("--checkin-threads", type=int, default=8)
    parser.add_argument("--dashboard-per-s", type=float, default=2.0)
    parser.add_argument("--aps", type=int, default=200, help="access points reporting (200)")
    parser.add_argument("--wifi-interval", type=float, default=10.0, help="s between reports")
    parser.add_argument("--wifi-clients", type=int, default=20, help="clients per AP report")
    parser.add_argument("--wifi-threads", type=int, default=4)
    parser.add_argument("--healthz-per-s", type=float, default=5.0)
    parser.add_argument("--shelters", type=int, default=28, help="opened if none are open")
    parser.add_argument(
        "--broadcast-at", type=float, default=1 / 3, help="share of the run (1/3); <0: none"
    )
    parser.add_argument(
        "--broadcast-wait", type=float, default=120.0, help="s to wait for it after the run"
    )
    parser.add_argument("--retries", type=int, default=5)
    parser.add_argument("--max-seconds", type=float, default=0.0, help="default: run + 15 min")
    args = parser.parse_args(argv)
    parts = urlsplit(args.url)
    if parts.scheme != "http" or parts.hostname != "127.0.0.1" or not parts.port:
        parser.error("--url must be http://127.0.0.1:PORT")
    args.web = [int(p) for p in args.web_pids.split(",") if p.strip()]
    args.workers = [int(p) for p in args.worker_pids.split(",") if p.strip()]
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    max_seconds = args.max_seconds or args.minutes * 60 + 900

    def on_alarm(signum: int, frame: object) -> None:
        raise BenchTimeout(f"the run took longer than {max_seconds:.0f} s")

    def on_term(signum: int, frame: object) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGALRM, on_alarm)
    signal.signal(signal.SIGTERM, on_term)
    signal.alarm(int(max_seconds))
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    env["MACHI_LOG_LEVEL"] = "WARNING"
    result: dict[str, Any] = {
        "benchmark": "soak",
        "ok": False,
        "url": args.url,
        "minutes": args.minutes,
        "machine": {**machine_info(), "loadavg_before": loadavg()},
    }
    memory = Memory(args.web, args.workers, args.sample_seconds)
    soak: Soak | None = None
    threads: list[threading.Thread] = []
    code = 1
    try:
        log("set-up: disaster, shelters, access points…")
        out = machi(
            env,
            "shell",
            "-c",
            SETUP.format(
                user=USER,
                shelters=args.shelters,
                capacity=1_000_000,
                sites=max(1, args.aps // 20),
                aps=args.aps,
                prefix=AP_PREFIX,
            ),
        )
        facts = json.loads(out.strip().splitlines()[-1])
        token = machi(env, "token", "create", USER, "--name", "soak").strip().splitlines()[-1]
        port = int(urlsplit(args.url).port or 80)
        cookies = sign_in(port, facts.pop("secret"))
        result["machine"].update(database=facts["vendor"], database_version=facts["version"])
        result["setup"] = {
            "disaster_id": facts["disaster_id"],
            "disaster_declared": facts["declared"],
            "shelters_open": len(facts["shelter_ids"]),
            "aps": len(facts["aps"]),
        }
        soak = Soak(args, facts, token.strip())
        seconds = args.minutes * 60
        per_thread = args.checkins_per_s / args.checkin_threads
        for n in range(args.checkin_threads):
            threads.append(threading.Thread(target=soak.checkins, args=(per_thread, n)))
        threads.append(
            threading.Thread(target=soak.dashboard, args=(args.dashboard_per_s, cookies))
        )
        aps = facts["aps"]
        for n in range(args.wifi_threads):
            share = aps[n :: args.wifi_threads]
            if share:
                threads.append(
                    threading.Thread(target=soak.wifi, args=(share, args.wifi_interval, n))
                )
        threads.append(threading.Thread(target=soak.healthz, args=(args.healthz_per_s,)))
        broadcaster = None
        if args.broadcast_at >= 0:
            broadcaster = threading.Thread(
                target=soak.send_broadcast, args=(seconds * args.broadcast_at,)
            )
        log(
            f"soak: {args.minutes:g} min, {args.checkins_per_s:g} check-ins/s, "
            f"{args.dashboard_per_s:g} dashboards/s, {len(aps) / args.wifi_interval:g} AP "
            f"reports/s, {args.healthz_per_s:g} /healthz/s, a broadcast at "
            f"{seconds * args.broadcast_at:.0f} s"
        )
        memory.thread.start()
        soak.start = time.perf_counter()
        memory.start = time.monotonic()
        for thread in threads:
            thread.daemon = True
            thread.start()
        if broadcaster is not None:
            broadcaster.daemon = True
            broadcaster.start()
        for minute in range(1, int(seconds // 60) + 1):
            if soak.stop.wait(60):
                break
            done = {k: sum(v.statuses.values()) for k, v in soak.kinds.items()}
            errors = {k: sum(v.errors.values()) for k, v in soak.kinds.items() if v.errors}
            log(f"  minute {minute}: {done}" + (f" errors {errors}" if errors else ""))
        soak.stop.wait(max(0.0, seconds - (time.perf_counter() - soak.start)))
        soak.stop.set()
        elapsed = time.perf_counter() - soak.start
        for thread in threads:
            thread.join(timeout=60)
        if broadcaster is not None:
            broadcaster.join(timeout=args.broadcast_wait + 30)
        memory.stop.set()
        memory.thread.join(timeout=10)
        memory.sample()

        with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as handle:
            json.dump(soak.checkins_made, handle)
        try:
            check = json.loads(
                machi(env, "shell", "-c", CHECK.format(path=handle.name)).strip().splitlines()[-1]
            )
        finally:
            os.unlink(handle.name)
        kinds = {name: kind.summary(elapsed) for name, kind in soak.kinds.items()}
        requests = sum(k["requests"] for k in kinds.values())
        errors = sum(k["errors"] for k in kinds.values())
        base = kinds["healthz"]
        relative = {
            name: round(k["p99_ms"] / base["p99_ms"], 2)
            for name, k in kinds.items()
            if name != "healthz" and k["p99_ms"] and base["p99_ms"]
        }
        processes = memory.report(args.warmup_seconds)
        lost = check["made"] - check["found"]
        broadcast = soak.broadcast
        broadcast_ok = args.broadcast_at < 0 or (
            broadcast.get("status") == "sent"
            and broadcast.get("delivered", 0) + broadcast.get("failed", 0) == broadcast["total"]
        )
        result.update(
            {
                "ok": errors == 0 and lost == 0 and broadcast_ok,
                "seconds": round(elapsed, 1),
                "requests": requests,
                "errors": errors,
                "error_rate": round(errors / requests, 6) if requests else None,
                "retried": sum(k["retried"] for k in kinds.values()),
                "kinds": kinds,
                "p99_ms": {name: k["p99_ms"] for name, k in kinds.items()},
                "p99_x_baseline": relative,
                "broadcast": broadcast,
                "checkins": {**check, "lost": lost},
                "memory": {
                    "warmup_s": args.warmup_seconds,
                    "sample_s": args.sample_seconds,
                    "processes": processes,
                },
                "rates": {
                    "checkins_per_s": args.checkins_per_s,
                    "dashboard_per_s": args.dashboard_per_s,
                    "wifi_reports_per_s": round(len(aps) / args.wifi_interval, 2),
                    "healthz_per_s": args.healthz_per_s,
                },
            }
        )
        code = 0 if result["ok"] else 1
    except (
        BenchTimeout,
        RuntimeError,
        subprocess.SubprocessError,
        OSError,
        KeyError,
        ValueError,
    ) as exc:
        result["error"] = f"{type(exc).__name__}: {exc}"[-3000:]
    except (KeyboardInterrupt, SystemExit) as exc:
        result["error"] = f"interrupted ({type(exc).__name__})"
        code = 130
    finally:
        signal.alarm(0)
        if soak is not None:
            soak.stop.set()
        memory.stop.set()
        result["machine"]["loadavg_after"] = loadavg()
    print_summary(result)
    print(json.dumps(result, ensure_ascii=False, separators=(",", ":")))
    return code


def print_summary(result: dict[str, Any]) -> None:
    machine = result["machine"]
    print(
        f"Machi disaster soak through {result['url']}: {result['minutes']:g} min on "
        f"{machine.get('database', '?')} {machine.get('database_version', '')}, "
        f"{machine['cores']} cores, load {machine['loadavg_before']} → "
        f"{machine.get('loadavg_after')}"
    )
    for name, k in result.get("kinds", {}).items():
        print(
            f"  {name:<17} {k['requests']:>7} req ({k['per_s']:>6}/s)  errors {k['errors']}  "
            f"retried {k['retried']}  p50 {k['p50_ms']} ms  p95 {k['p95_ms']} ms  "
            f"p99 {k['p99_ms']} ms (first third {k['p99_first_third_ms']}, last "
            f"{k['p99_last_third_ms']})"
        )
    if "error_rate" in result:
        print(
            f"  error rate {result['error_rate']} ({result['errors']} of {result['requests']}), "
            f"p99 × baseline {result['p99_x_baseline']}"
        )
        check = result["checkins"]
        print(f"  check-ins: {check['made']} made, {check['found']} recorded, lost {check['lost']}")
        print(f"  broadcast: {result['broadcast']}")
        for row in result["memory"]["processes"]:
            print(
                f"  memory {row['role']:<22} pid {row['pid']:>7}: {row['rss_start_mb']:>7} → "
                f"{row['rss_end_mb']:>7} MB ({row['growth_mb']:+} MB, "
                f"{row['slope_mb_per_min']} MB/min){'' if row['alive_at_end'] else ' (gone)'}"
            )
    if "error" in result:
        print(f"  FAILED: {result['error'].splitlines()[0]}")


if __name__ == "__main__":
    sys.exit(main())
