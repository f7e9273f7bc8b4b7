"""Sustained check-ins per second through the HTTP API, served the production way.

Sets up the demo city in a fresh temporary MACHI_DATA_DIR (SQLite by default, or the
PostgreSQL server of ``--database-url``), then, through the product's own services (in
``machi shell``): the first 28 designated shelters (their Shelter created if the demo has
none, the night capacity set to 5,000 so that none fills up), a declared disaster, every one of
them opened, and one pre-registered person per check-in to come. It starts
``machi serve`` (gunicorn, sync workers, DEBUG off) with ``MACHI_API_RATE_LIMIT`` raised so the
API's throttle never refuses, creates a bearer token for ``hq`` (``machi token create``), and
sends ``POST /api/v1/checkins`` from threads in this process (``http.client``):

* **check-in**  one new check-in per pre-registered person (``person_id``), spread over the
  open shelters, at each client concurrency of ``--concurrency`` (4, 8, 16): expect 201;
* **inline**    a smaller run that registers the person in the same request (``person``): 201;
* **replay**    the same ids as a check-in run sent again: 200, nothing new recorded.

Each is split into interleaved rounds with the same number of ``GET /healthz`` (the baseline,
a trivial view) from the same number of threads: read check-ins/s as a share of the baseline's
req/s of the same run (``relative_to_baseline``), not as an absolute figure. The CPU time that
gunicorn's processes (and PostgreSQL's backends) spent per request is measured too, from
/proc: it moves much less than req/s when the machine is shared. At the end the database is
checked (one check-in row per 201, occupancy counted once), and SQL queries per request are
counted with Django's test client.

Prints a short summary, then exactly one line of JSON (the last line of stdout).

With ``--url`` it measures an installation that is already running (``.ci/cluster``: nginx in
front of two web servers): nothing is started, created or dropped, the set-up runs in that
installation's database (this process's environment), and a check-in whose attempt fails (no
answer, or 502/503/504 from the proxy) is sent again with the same UUID (``--retries``).
``--kill-group PID`` SIGKILLs one web server half-way through the measured check-ins; the
``through`` block then counts the check-ins made, retried and recorded: none may be lost or
recorded twice.

    .venv/bin/python bench/checkin.py
    .venv/bin/python bench/checkin.py --database-url postgresql://postgres@127.0.0.1:5432/machi_bench
    .venv/bin/python bench/checkin.py --url http://127.0.0.1:8080 --kill-group 12345
"""

from __future__ import annotations

import argparse
import functools
import http.client
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from pages import (
    REPO,
    SCRUBBED_ENV,
    USER,
    BenchTimeout,
    Phase,
    Server,
    _psql,
    free_port,
    load,
    loadavg,
    log,
    machine_info,
    merge,
    pg_database_name,
    summarise,
    tear_down,
    with_retries,
)

PATH = "/api/v1/checkins"
# High enough that AuthRateThrottle (per user, per minute) never answers 429 during the run.
RATE_LIMIT = 10_000_000
# The targets on the 2-core machine, p99 ≤ 100 ms on both.
TARGETS = {"sqlite": 500, "postgresql": 600}
TARGET_P99_MS = 100.0

# Run in `machi shell` after `machi demo --no-serve`: shelters, a disaster, openings and the
# people to check in, all through the product's services. Prints one JSON line.
SETUP = """
import json, time
from django.db import connection, transaction
from machi.core.models import Facility, User
from machi.emergency.services import disaster_declare
from machi.shelters import services
from machi.shelters.models import Opening, Person, Shelter

began = time.perf_counter()
hq = User.objects.get(username={user!r})
existing = Shelter.objects.count()
shelters = []
with transaction.atomic():
    for facility in Facility.objects.filter(is_shelter=True).order_by("pk")[:{shelters}]:
        shelter = Shelter.objects.get_or_create(facility=facility)[0]
        shelter.capacity_night = {capacity}  # never full during the run, whatever the demo says
        shelter.save()
        shelters.append(shelter)
disaster = disaster_declare(name="令和元年東日本台風", hazards=["flood"], declared_by=hq)
openings = [services.opening_open(shelter=s, disaster=disaster) for s in shelters]
with transaction.atomic():
    for n in range({persons}):
        services.household_register(
            members=[services.PersonInput(family_name="戸田", given_name=f"太郎{{n}}")],
            disaster=disaster,
        )
people = Person.objects.filter(household__disaster=disaster).order_by("created_at", "pk")
with connection.cursor() as c:
    c.execute("select sqlite_version()" if connection.vendor == "sqlite" else "show server_version")
    version = c.fetchone()[0]
print(json.dumps({{
    "vendor": connection.vendor,
    "version": version,
    "facilities": Facility.objects.count(),
    "shelters_from_demo": existing,
    "disaster_id": disaster.pk,
    "shelter_ids": [o.shelter_id for o in openings],
    "open": Opening.objects.filter(disaster=disaster, status="open").count(),
    "person_ids": [str(pk) for pk in people.values_list("pk", flat=True)],
    "seconds": round(time.perf_counter() - began, 2),
}}))
"""

# Run in `machi shell` once the server has stopped: is every 201 one row, counted once? Then
# SQL queries per request, through Django's test client (the same middleware and API).
CHECK = """
import json, logging, uuid
from django.db import connection
from django.db.models import Sum
from django.test import Client
from django.test.utils import CaptureQueriesContext
from machi.core.models import AuditEvent
from machi.shelters import services
from machi.shelters.models import Checkin, CheckinEvent, Opening

# The benchmark's disaster only: the demo city has stays of its own (the insights room's year).
disaster_id = {disaster_id}
facts = {{
    "checkins": Checkin.objects.filter(disaster_id=disaster_id).count(),
    "checkin_events": CheckinEvent.objects.filter(checkin__disaster_id=disaster_id).count(),
    "checkin_audit_events": AuditEvent.objects.filter(object_type="shelters.checkin").count(),
    "occupancy_sum": Opening.objects.filter(disaster_id=disaster_id).aggregate(
        n=Sum("occupancy"))["n"] or 0,
    "conflicts": Checkin.objects.filter(disaster_id=disaster_id, conflict=True).count(),
}}
logged = []
class Keep(logging.Handler):
    def emit(self, record):
        logged.append(self.format(record)[-1500:])
logging.getLogger().addHandler(Keep(level=logging.ERROR))
client = Client(HTTP_HOST="127.0.0.1", HTTP_AUTHORIZATION="Bearer " + {token!r})
person = services.household_register(
    members=[services.PersonInput(family_name="戸田", given_name="数える")], disaster=None
).members.get()
shelter_id = {shelter_id}
def post(body):
    with CaptureQueriesContext(connection) as queries:
        response = client.post({path!r}, body, content_type="application/json")
    answer = {{"status": response.status_code, "queries": len(queries.captured_queries)}}
    if response.status_code >= 300:
        answer["body"] = response.content[:300].decode(errors="replace")
    return answer
key = str(uuid.uuid4())
counts = {{}}
with CaptureQueriesContext(connection) as queries:
    response = client.get("/healthz")
counts["healthz"] = {{"status": response.status_code, "queries": len(queries.captured_queries)}}
counts["checkin"] = post({{"id": key, "shelter_id": shelter_id, "person_id": str(person.pk)}})
counts["replay"] = post({{"id": key, "shelter_id": shelter_id, "person_id": str(person.pk)}})
counts["inline"] = post({{"id": str(uuid.uuid4()), "shelter_id": shelter_id,
                         "person": {{"family_name": "戸田", "given_name": "花子"}}}})
facts["queries_per_request"] = counts
if logged:
    facts["queries_per_request"]["errors_logged"] = logged
# What limits the API's rate, and where it counts. ninja's own AuthRateThrottle keeps one
# timestamp per request of the last minute and rewrites the list on every request.
import time
from types import SimpleNamespace
from django.conf import settings
from ninja.throttling import AuthRateThrottle
from machi.config.api import api
from machi.core.models import User
throttles = api.throttle if isinstance(api.throttle, list) else [api.throttle]
facts["throttle"] = {{
    "classes": [type(t).__name__ for t in throttles],
    "caches": {{alias: c["BACKEND"].rsplit(".", 1)[-1] for alias, c in settings.CACHES.items()}},
}}
for throttle in throttles:
    if isinstance(throttle, AuthRateThrottle):
        asking = SimpleNamespace(auth=User.objects.get(username={user!r}), META={{}})
        history = throttle.cache.get(throttle.get_cache_key(asking)) or []
        facts["throttle"]["history_last_60s"] = sum(1 for t in history if t > time.time() - 60)
print(json.dumps(facts))
"""


@dataclass
class PostPhase(Phase):
    """A Phase of POSTs, which also counts the TCP connections the client opened.

    With retries (``--retries``, in front of several web servers): ``retried`` check-ins needed
    more than one attempt, ``extra_attempts`` were sent again in all, ``failed_attempts`` says
    how the attempts before the last failed (a status such as 502, or an exception's name), and
    ``recovered`` check-ins were answered 200 on a retry where 201 was expected: the failed
    attempt had been recorded before its server died, and the retry found it by its UUID.
    """

    connections: int = 0
    unexpected: str = ""  # the first answer with another status than expected
    retried: int = 0
    extra_attempts: int = 0
    recovered: int = 0
    failed_attempts: dict[str, int] = field(default_factory=dict)


class Midway:
    """Runs ``action`` once, from whichever client thread counts the ``after``-th answer."""

    def __init__(self, after: int, action: Callable[[], dict[str, Any]]) -> None:
        self.after = max(1, after)
        self.action = action
        self.count = 0
        self.lock = threading.Lock()
        self.report: dict[str, Any] | None = None
        self.began = time.monotonic()

    def tick(self) -> None:
        with self.lock:
            self.count += 1
            if self.count != self.after:
                return
        report = {"after_answers": self.count, "at_s": round(time.monotonic() - self.began, 2)}
        try:
            report.update(self.action())
        except OSError as exc:  # reported, and the run is then not ok
            report["error"] = f"{type(exc).__name__}: {exc}"
        self.report = report
        log(f"  midway: {report}")


def kill_group(pid: int) -> Callable[[], dict[str, Any]]:
    """SIGKILL the process group led by ``pid`` (a web server: gunicorn's master and workers)."""

    def action() -> dict[str, Any]:
        if os.getpgid(pid) != pid:  # never the group of whoever started us
            raise ProcessLookupError(f"{pid} does not lead a process group of its own")
        members = [
            int(e.name)
            for e in Path("/proc").iterdir()
            if e.name.isdigit() and _pgid(e.name) == pid
        ]
        os.killpg(pid, signal.SIGKILL)
        return {"killed_group": pid, "processes": len(members), "signal": "SIGKILL"}

    return action


def _pgid(pid: str) -> int | None:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[2])
    except (OSError, ValueError, IndexError):
        return None


def _stat(pid: str) -> tuple[int, float]:
    """Parent pid and CPU seconds (user + system) of a process, from /proc (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[1]), (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _database_pids(database_url: str) -> set[str]:
    """PostgreSQL backends connected to the scratch database (gunicorn's workers keep theirs)."""
    name = pg_database_name(database_url)
    parts = urlsplit(database_url)
    admin_url = urlunsplit(parts._replace(path="/postgres", query=""))
    done = subprocess.run(  # the name as a psql variable, quoted by psql
        ["psql", admin_url, "-tA", "-v", f"name={name}"],
        input="SELECT pid FROM pg_stat_activity WHERE datname = :'name';\n",
        check=False,
        timeout=30,
        capture_output=True,
        text=True,
    )
    return set(done.stdout.split()) if done.returncode == 0 else set()


def cpu_sample(server: Server, database_url: str) -> dict[str, dict[str, float]] | None:
    """CPU seconds used so far by each gunicorn process and each PostgreSQL backend of the
    scratch database; None without /proc.

    Much steadier than req/s on a shared machine: the neighbours' load changes how fast the
    requests go, hardly how much CPU each of them takes.
    """
    if server.process is None or not Path("/proc/self/stat").exists():
        return None
    master = server.process.pid
    backends = _database_pids(database_url) if database_url else set()
    sample: dict[str, dict[str, float]] = {"server": {}, "database": {}}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            parent, cpu = _stat(entry.name)
        except (OSError, ValueError, IndexError):
            continue  # gone meanwhile, or not readable
        if int(entry.name) == master or parent == master:
            sample["server"][entry.name] = cpu
        elif entry.name in backends:
            sample["database"][entry.name] = cpu
    return sample


def cpu_spent(
    before: dict[str, dict[str, float]] | None, after: dict[str, dict[str, float]] | None
) -> dict[str, float]:
    """CPU seconds between two samples, of the processes present in both."""
    if before is None or after is None:
        return {}
    return {
        side: sum(
            cpu - before[side][pid] for pid, cpu in after[side].items() if pid in before[side]
        )
        for side in ("server", "database")
    }


def post_load(
    port: int,
    token: str,
    bodies: list[bytes],
    *,
    concurrency: int,
    seconds: float,
    expect: int,
    retries: int = 0,
    midway: Midway | None = None,
) -> PostPhase:
    """POST each body once, from ``concurrency`` threads with one keep-alive connection each.

    With ``retries``, a check-in whose attempt failed (no answer, or a proxy's 502/503/504) is
    sent again with the same body, hence the same UUID; its latency is from the first attempt
    to the last answer, as its client sees it. ``midway`` counts every answer.
    """
    phase = PostPhase(PATH)
    lock = threading.Lock()
    queue = iter(bodies)
    deadline = time.monotonic() + seconds
    headers = {
        "Host": "127.0.0.1",
        "User-Agent": "machi-bench",
        "Content-Type": "application/json",
        "Accept": "application/json",
        "Authorization": f"Bearer {token}",
    }

    def worker() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=15)
        latencies: list[float] = []
        statuses: dict[int, int] = {}
        errors: dict[str, int] = {}
        sent = connects = 0
        unexpected = ""
        retried = extra = recovered = 0
        failed: dict[str, int] = {}

        def attempt(body: bytes) -> tuple[int, dict[str, str], bytes]:
            nonlocal connects
            if conn.sock is None:
                connects += 1
            try:
                conn.request("POST", PATH, body=body, headers=headers)
                response = conn.getresponse()
                data = response.read()
            except (OSError, http.client.HTTPException):
                conn.close()
                raise
            if response.will_close:
                conn.close()
            return response.status, {}, data

        try:
            while True:
                with lock:
                    body = next(queue, None)
                if body is None:
                    break
                if time.monotonic() > deadline:
                    phase.timed_out = True
                    break
                if retries:
                    began = time.perf_counter()
                    outcome = with_retries(functools.partial(attempt, body), retries=retries)
                    attempts = len(outcome.failures) + (outcome.answer is not None)
                    retried += attempts > 1
                    extra += attempts - 1
                    for name in outcome.failures[: attempts - 1]:
                        failed[name] = failed.get(name, 0) + 1
                    if midway is not None:
                        midway.tick()
                    if outcome.answer is None:
                        name = outcome.failures[-1]
                        errors[name] = errors.get(name, 0) + 1
                        continue
                    latencies.append(time.perf_counter() - began)
                    status, _, data = outcome.answer
                    statuses[status] = statuses.get(status, 0) + 1
                    if attempts > 1 and expect == 201 and status == 200:
                        recovered += 1
                    elif status != expect and not unexpected:
                        unexpected = f"{status}: {data[:300].decode(errors='replace')}"
                    sent += len(data)
                    continue
                if conn.sock is None:
                    connects += 1
                began = time.perf_counter()
                try:
                    conn.request("POST", PATH, body=body, headers=headers)
                    response = conn.getresponse()
                    data = response.read()
                except (OSError, http.client.HTTPException) as exc:
                    conn.close()
                    errors[type(exc).__name__] = errors.get(type(exc).__name__, 0) + 1
                    continue
                latencies.append(time.perf_counter() - began)
                if response.will_close:
                    conn.close()
                statuses[response.status] = statuses.get(response.status, 0) + 1
                if response.status != expect and not unexpected:
                    unexpected = f"{response.status}: {data[:300].decode(errors='replace')}"
                sent += len(data)
                if midway is not None:
                    midway.tick()
        finally:
            conn.close()
            with lock:
                phase.latencies.extend(latencies)
                phase.bytes_total += sent
                phase.connections += connects
                phase.unexpected = phase.unexpected or unexpected
                phase.retried += retried
                phase.extra_attempts += extra
                phase.recovered += recovered
                for name, count in failed.items():
                    phase.failed_attempts[name] = phase.failed_attempts.get(name, 0) + count
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
    return phase


def summarise_post(phase: PostPhase, expect: int) -> dict[str, Any]:
    summary = summarise(phase)  # counts 200 as ok: recount with the status expected
    ok = phase.statuses.get(expect, 0) + phase.recovered
    summary.update(
        {
            "ok": ok,
            "expected_status": expect,
            "rps": round(ok / phase.elapsed, 1) if phase.elapsed else 0.0,
            "connections": phase.connections,
        }
    )
    if phase.unexpected:
        summary["first_unexpected"] = phase.unexpected
    if phase.retried or phase.failed_attempts:
        summary["retries"] = {
            "retried": phase.retried,
            "extra_attempts": phase.extra_attempts,
            "recovered_200": phase.recovered,
            "failed_attempts": phase.failed_attempts,
        }
    return summary


def merge_posts(total: PostPhase, part: PostPhase) -> None:
    merge(total, part)
    total.connections += part.connections
    total.unexpected = total.unexpected or part.unexpected
    total.retried += part.retried
    total.extra_attempts += part.extra_attempts
    total.recovered += part.recovered
    for name, count in part.failed_attempts.items():
        total.failed_attempts[name] = total.failed_attempts.get(name, 0) + count


def split(items: list[bytes], parts: int) -> list[list[bytes]]:
    size, extra = divmod(len(items), parts)
    chunks, start = [], 0
    for index in range(parts):
        end = start + size + (1 if index < extra else 0)
        chunks.append(items[start:end])
        start = end
    return [chunk for chunk in chunks if chunk]


def measure(
    server: Server,
    token: str,
    bodies: list[bytes],
    *,
    concurrency: int,
    rounds: int,
    expect: int,
    deadline: float,
    database_url: str = "",
    retries: int = 0,
    midway: Midway | None = None,
) -> dict[str, Any]:
    """Interleaved rounds of /healthz and the POSTs, the same count and threads each."""
    port = server.port
    post_total, base_total = PostPhase(PATH), Phase("/healthz")
    post_rounds: list[float] = []
    base_rounds: list[float] = []
    cpu = {name: {"server": 0.0, "database": 0.0} for name in ("baseline", "checkins")}
    for chunk in split(bodies, rounds):
        before = cpu_sample(server, database_url)
        base = load(
            port,
            "/healthz",
            requests=len(chunk),
            concurrency=concurrency,
            seconds=max(0.0, deadline - time.monotonic()),
        )
        middle = cpu_sample(server, database_url)
        merge(base_total, base)
        base_rounds.append(round(base.statuses.get(200, 0) / base.elapsed, 1))
        posts = post_load(
            port,
            token,
            chunk,
            concurrency=concurrency,
            seconds=max(0.0, deadline - time.monotonic()),
            expect=expect,
            retries=retries,
            midway=midway,
        )
        after = cpu_sample(server, database_url)
        for name, spent in (
            ("baseline", cpu_spent(before, middle)),
            ("checkins", cpu_spent(middle, after)),
        ):
            for side, seconds in spent.items():
                cpu[name][side] += seconds
        merge_posts(post_total, posts)
        post_rounds.append(round(posts.statuses.get(expect, 0) / posts.elapsed, 1))
        # Without a process of its own (--url), the server is someone else's to watch.
        exited = server.process.poll() if server.process is not None else None
        if exited is not None:
            raise RuntimeError(f"the server stopped during the run ({exited}):\n{server.tail(15)}")
        log(f"    c={concurrency}: /healthz {base_rounds[-1]} req/s, {PATH} {post_rounds[-1]}/s")
    posts_summary = {
        **summarise_post(post_total, expect),
        "rps_by_round": post_rounds,
        **cpu_per_request(cpu["checkins"], post_total, database_url),
    }
    base_summary = {
        **summarise(base_total),
        "rps_by_round": base_rounds,
        **cpu_per_request(cpu["baseline"], base_total, database_url),
    }
    return {
        "concurrency": concurrency,
        "checkins": posts_summary,
        "baseline": base_summary,
        "relative_to_baseline": relative(posts_summary, base_summary),
        "baseline_spread": round(max(base_rounds) / min(base_rounds), 2)
        if base_rounds and min(base_rounds) > 0
        else None,
        "ok": (
            posts_summary["ok"] == len(bodies)
            and base_summary["ok"] == len(bodies)
            and not posts_summary["timed_out"]
            and not base_summary["timed_out"]
        ),
    }


def cpu_per_request(cpu: dict[str, float], phase: Phase, database_url: str) -> dict[str, Any]:
    """CPU milliseconds per answered request: gunicorn's processes (on SQLite they include
    the database's work), and PostgreSQL's backends."""
    answered = sum(phase.statuses.values())

    def per(seconds: float) -> float | None:
        return round(seconds * 1000 / answered, 2) if answered and seconds else None

    return {
        "server_cpu_ms_per_request": per(cpu["server"]),
        "database_cpu_ms_per_request": per(cpu["database"]) if database_url else None,
    }


def relative(page: dict[str, Any], base: dict[str, Any]) -> dict[str, float | None]:
    def ratio(a: float | None, b: float | None, digits: int = 2) -> float | None:
        if a is None or b is None or not b or a != a or b != b:  # missing, zero or NaN
            return None
        return round(a / b, digits)

    return {
        "p50_x": ratio(page["p50_ms"], base["p50_ms"]),
        "p99_x": ratio(page["p99_ms"], base["p99_ms"]),
        "rps_share": ratio(page["rps"], base["rps"], 3),
        "server_cpu_x": ratio(page["server_cpu_ms_per_request"], base["server_cpu_ms_per_request"]),
    }


def body(shelter_id: int, person_id: str | None = None, n: int = 0) -> bytes:
    payload: dict[str, Any] = {"id": str(uuid.uuid4()), "shelter_id": shelter_id}
    if person_id is not None:
        payload["person_id"] = person_id
    else:
        payload["person"] = {"family_name": "戸田", "given_name": f"花子{n}"}
    return json.dumps(payload, ensure_ascii=False).encode()


# --- Main ----------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--requests",
        type=int,
        default=3000,
        help="check-ins (new persons) per client concurrency (default 3000)",
    )
    parser.add_argument(
        "--concurrency",
        default="4,8,16",
        help="client threads, comma-separated: one run each (default 4,8,16)",
    )
    parser.add_argument(
        "--inline", type=int, default=1000, help="inline registrations + check-ins (default 1000)"
    )
    parser.add_argument(
        "--replay", type=int, default=1000, help="replayed check-ins, expecting 200 (default 1000)"
    )
    parser.add_argument(
        "--side-concurrency", type=int, default=8, help="client threads of inline and replay"
    )
    parser.add_argument("--warmup", type=int, default=200, help="unmeasured check-ins")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds per run")
    parser.add_argument("--shelters", type=int, default=28, help="shelters opened (default 28)")
    parser.add_argument(
        "--measure-seconds", type=float, default=600.0, help="time bound of the measurement"
    )
    parser.add_argument(
        "--max-seconds", type=float, default=1200.0, help="time bound of the whole run"
    )
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers (default 2)")
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
    parser.add_argument(
        "--url",
        default="",
        help="use the Machi already served there (e.g. nginx in front of several web servers, "
        "http://127.0.0.1:PORT): nothing is started, created or dropped; `machi shell` and "
        "`machi token` run with this process's environment (DATABASE_URL, REDIS_URL, "
        "MACHI_DATA_DIR…), whose database must hold the demo city",
    )
    parser.add_argument(
        "--retries",
        type=int,
        default=None,
        help="send a check-in again (same UUID) when an attempt fails: no answer, or 502/503/504 "
        "(default 0; 5 with --url)",
    )
    parser.add_argument(
        "--kill-group",
        type=int,
        default=0,
        help="SIGKILL this process group (a web server behind --url) mid-way through the "
        "measured check-ins",
    )
    parser.add_argument(
        "--kill-at", type=float, default=0.5, help="share of the check-ins before the kill (0.5)"
    )
    args = parser.parse_args(argv)
    if args.retries is None:
        args.retries = 5 if args.url else 0
    if args.url:
        parts = urlsplit(args.url)
        if parts.scheme != "http" or parts.hostname != "127.0.0.1" or not parts.port:
            parser.error("--url must be http://127.0.0.1:PORT (the client connects there)")
        if args.database_url:
            parser.error("--url uses the server's own database: leave out --database-url")
    elif args.kill_group:
        parser.error("--kill-group needs --url")
    try:
        args.concurrencies = [int(c) for c in args.concurrency.split(",") if c.strip()]
    except ValueError:
        parser.error("--concurrency takes integers separated by commas, e.g. 4,8,16")
    if not args.concurrencies or min(args.concurrencies) < 1 or args.requests < 1:
        parser.error("--concurrency and --requests must be positive")
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

    data_dir = Path(tempfile.mkdtemp(prefix="machi-bench-checkin-"))
    if args.url:  # someone else's server: its environment, as given to us
        env = dict(os.environ)
    else:
        env = {k: v for k, v in os.environ.items() if k not in SCRUBBED_ENV}
        env["MACHI_DATA_DIR"] = str(data_dir)
    env["MACHI_LOG_LEVEL"] = "WARNING"
    env["MACHI_API_RATE_LIMIT"] = str(RATE_LIMIT)
    env.pop("MACHI_SHELTERS_OPEN_ON_DECLARE", None)  # the set-up opens them itself
    pg_name = ""
    if args.database_url:
        pg_name = pg_database_name(args.database_url)
        env["DATABASE_URL"] = args.database_url
    port = urlsplit(args.url).port if args.url else free_port()
    server = Server(args.machi, env, port or 0, args.workers, data_dir / "server.log")
    midway = None
    if args.kill_group:
        measured = args.requests * len(args.concurrencies)
        midway = Midway(int(measured * args.kill_at), kill_group(args.kill_group))
    result: dict[str, Any] = {"benchmark": "checkin", "ok": False}
    code = 1
    try:
        if pg_name:
            _psql(args.database_url, f'DROP DATABASE IF EXISTS "{pg_name}" WITH (FORCE)')
            _psql(args.database_url, f'CREATE DATABASE "{pg_name}"')
        began = time.perf_counter()
        if not args.url:
            server.run("demo", "--no-serve", timeout=300)
        demo_s = time.perf_counter() - began
        persons = args.warmup + args.requests * len(args.concurrencies)
        log(f"  set-up: {args.shelters} shelters, a disaster, {persons} people…")
        out = server.run(
            "shell",
            "-c",
            SETUP.format(user=USER, shelters=args.shelters, capacity=5000, persons=persons),
            timeout=600,
        )
        facts = json.loads(out.strip().splitlines()[-1])
        token = server.run("token", "create", USER, "--name", "bench", timeout=120)
        token = token.strip().splitlines()[-1].strip()
        shelter_ids: list[int] = facts["shelter_ids"]
        if not shelter_ids or facts["open"] != len(shelter_ids):
            raise RuntimeError(f"set-up opened {facts['open']} of {len(shelter_ids)} shelters")
        people: list[str] = facts["person_ids"]
        if len(people) != persons:
            raise RuntimeError(f"set-up registered {len(people)} people, not {persons}")
        startup_s = 0.0 if args.url else server.start(timeout=120)

        def bodies_for(ids: list[str], start: int) -> list[bytes]:
            return [
                body(shelter_ids[(start + i) % len(shelter_ids)], pid) for i, pid in enumerate(ids)
            ]

        warm = bodies_for(people[: args.warmup], 0)
        log(f"  warm-up: {len(warm)} check-ins, {len(warm)} /healthz")
        load(server.port, "/healthz", requests=max(len(warm), 1), concurrency=8, seconds=60)
        warmed = post_load(
            server.port, token, warm, concurrency=8, seconds=120, expect=201, retries=args.retries
        )
        if warm and warmed.statuses.get(201, 0) + warmed.recovered != len(warm):
            raise RuntimeError(
                f"warm-up check-ins: {warmed.statuses} {warmed.errors} {warmed.unexpected}"
            )

        load_before = loadavg()
        deadline = time.monotonic() + args.measure_seconds
        runs: dict[str, dict[str, Any]] = {}
        replayable: list[bytes] = []
        offset = args.warmup
        for concurrency in args.concurrencies:
            batch = bodies_for(people[offset : offset + args.requests], offset)
            offset += args.requests
            runs[str(concurrency)] = measure(
                server,
                token,
                batch,
                concurrency=concurrency,
                rounds=args.rounds,
                expect=201,
                deadline=deadline,
                database_url=args.database_url,
                retries=args.retries,
                midway=midway,
            )
            replayable = replayable or batch
        log(f"  inline registration: {args.inline}")
        inline = [body(shelter_ids[i % len(shelter_ids)], None, n=i) for i in range(args.inline)]
        side: dict[str, dict[str, Any]] = {}
        if inline:
            side["inline_register"] = measure(
                server,
                token,
                inline,
                concurrency=args.side_concurrency,
                rounds=args.rounds,
                expect=201,
                deadline=deadline,
                database_url=args.database_url,
                retries=args.retries,
            )
        replay = (replayable * (args.replay // max(len(replayable), 1) + 1))[: args.replay]
        log(f"  replay: {len(replay)}")
        if replay:
            side["replay"] = measure(
                server,
                token,
                replay,
                concurrency=args.side_concurrency,
                rounds=args.rounds,
                expect=200,
                deadline=deadline,
                database_url=args.database_url,
                retries=args.retries,
            )
        load_after = loadavg()
        result["server_exit"] = server.stop()

        created = (
            args.warmup + args.requests * len(args.concurrencies) + (args.inline if inline else 0)
        )
        check = json.loads(
            server.run(
                "shell",
                "-c",
                CHECK.format(
                    token=token,
                    shelter_id=shelter_ids[0],
                    path=PATH,
                    user=USER,
                    disaster_id=facts["disaster_id"],
                ),
                timeout=300,
            )
            .strip()
            .splitlines()[-1]
        )
        queries = check.pop("queries_per_request")
        throttle = check.pop("throttle")
        consistent = (
            check["checkins"] == created
            and check["occupancy_sum"] == created
            and check["checkin_events"] == created
            and check["conflicts"] == 0
        )
        best_key = max(runs, key=lambda k: runs[k]["checkins"]["rps"])
        best = runs[best_key]
        vendor = facts["vendor"]
        target = TARGETS.get(vendor, TARGETS["postgresql"])
        met = [
            k
            for k, run in runs.items()
            if run["checkins"]["rps"] >= target and run["checkins"]["p99_ms"] <= TARGET_P99_MS
        ]
        all_ok = (
            all(run["ok"] for run in runs.values())
            and all(run["ok"] for run in side.values())
            and consistent
        )
        if args.url:
            result["through"] = through(args, runs, side, warmed, check, created, midway)
            all_ok = all_ok and result["through"]["ok"]
        result.update(
            {
                "ok": all_ok,
                "machine": {
                    **machine_info(),
                    "database": vendor,
                    "database_version": facts["version"],
                    "loadavg_before": load_before,
                    "loadavg_after": load_after,
                },
                "server": {
                    "command": f"external: {args.url}" if args.url else "machi serve",
                    "worker_class": "sync",
                    "workers": args.workers,
                    "debug": False,
                    "keep_alive": best["checkins"]["connections"] < best["checkins"]["requests"],
                    "env": {"MACHI_API_RATE_LIMIT": RATE_LIMIT},
                    # The API's throttles and the caches they may use; with ninja's
                    # AuthRateThrottle also the entries of hq's history at the end (it grows
                    # with the request rate, and is read and rewritten on every request).
                    "throttle": throttle,
                },
                "client": {
                    "kind": "threads + http.client, keep-alive when the server allows it",
                    "concurrency": args.concurrencies,
                    "checkins_per_concurrency": args.requests,
                    "side_concurrency": args.side_concurrency,
                    "rounds": args.rounds,
                    "warmup": args.warmup,
                },
                "setup": {
                    "facilities": facts["facilities"],
                    "shelters_from_demo": facts["shelters_from_demo"],
                    "shelters_open": len(shelter_ids),
                    "capacity_per_shelter": 5000,
                    "persons_registered": persons,
                    "demo_s": round(demo_s, 2),
                    "prepare_s": facts["seconds"],
                    "server_start_s": round(startup_s, 2),
                },
                "headline": {
                    "concurrency": best["concurrency"],
                    "checkins_per_s": best["checkins"]["rps"],
                    "p50_ms": best["checkins"]["p50_ms"],
                    "p99_ms": best["checkins"]["p99_ms"],
                    "baseline_rps": best["baseline"]["rps"],
                    "server_cpu_ms_per_checkin": best["checkins"]["server_cpu_ms_per_request"],
                    "server_cpu_ms_per_healthz": best["baseline"]["server_cpu_ms_per_request"],
                    "database_cpu_ms_per_checkin": best["checkins"]["database_cpu_ms_per_request"],
                    **best["relative_to_baseline"],
                },
                "target": {
                    "checkins_per_s": target,
                    "p99_ms": TARGET_P99_MS,
                    "met": bool(met),
                    "met_at_concurrency": [int(k) for k in met],
                },
                "by_concurrency": runs,
                **side,
                "db_check": {**check, "expected": created, "consistent": consistent},
                "queries_per_request": queries,
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
        tear_down(server, result, args.database_url, data_dir, keep=args.keep)

    print_summary(result)
    print(json.dumps(result, ensure_ascii=False, separators=(",", ":")))
    return code


def through(
    args: argparse.Namespace,
    runs: dict[str, dict[str, Any]],
    side: dict[str, dict[str, Any]],
    warmed: PostPhase,
    check: dict[str, Any],
    created: int,
    midway: Midway | None,
) -> dict[str, Any]:
    """With --url: every check-in the client made, how many needed a retry, and whether the
    database holds each exactly once (lost: made but not recorded; duplicates: recorded or
    counted more than once)."""
    summaries = [run["checkins"] for run in runs.values()]
    summaries += [run["checkins"] for run in side.values()]
    warm = summarise_post(warmed, 201)
    summaries.append(warm)
    failed: dict[str, int] = {}
    for summary in summaries:
        for name, count in summary.get("retries", {}).get("failed_attempts", {}).items():
            failed[name] = failed.get(name, 0) + count
    requests = sum(s["requests"] for s in summaries)
    answered_ok = sum(s["ok"] for s in summaries)
    lost = max(0, created - check["checkins"])
    duplicates = max(0, check["checkins"] - created) + max(0, check["occupancy_sum"] - created)
    report = {
        "url": args.url,
        "retries_allowed": args.retries,
        "requests": requests,
        "succeeded": answered_ok,
        "failed_for_good": requests - answered_ok,
        "retried": sum(s.get("retries", {}).get("retried", 0) for s in summaries),
        "extra_attempts": sum(s.get("retries", {}).get("extra_attempts", 0) for s in summaries),
        "recovered_200": sum(s.get("retries", {}).get("recovered_200", 0) for s in summaries),
        "failed_attempts": failed,
        "checkins_made": created,
        "checkins_recorded": check["checkins"],
        "lost": lost,
        "duplicates": duplicates,
        # GET /healthz between the rounds: nginx itself passes an idempotent request that
        # met a dead server on to the next one, so the client should never see it fail.
        "baseline_errors": sum(
            run["baseline"]["requests"] - run["baseline"]["ok"]
            for run in [*runs.values(), *side.values()]
        ),
    }
    if midway is not None:
        report["kill"] = midway.report or {"error": "the kill never happened"}
    report["ok"] = (
        report["failed_for_good"] == 0
        and lost == 0
        and duplicates == 0
        and report["baseline_errors"] == 0
        and (midway is None or (midway.report is not None and "error" not in midway.report))
    )
    return report


def print_summary(result: dict[str, Any]) -> None:
    machine = result.get("machine", {})
    if machine:
        print(
            f"Machi check-ins on {machine['database']} {machine['database_version']}, "
            f"{result['server']['workers']} gunicorn workers, {machine['cores']} cores "
            f"({machine['cpu_model']}), load {machine['loadavg_before']}"
        )
    rows = [(f"c={k}", run) for k, run in result.get("by_concurrency", {}).items()]
    rows += [(name, result[name]) for name in ("inline_register", "replay") if name in result]
    for name, run in rows:
        posts, base, rel = run["checkins"], run["baseline"], run["relative_to_baseline"]
        print(
            f"  {name:<16} {posts['rps']:>7}/s  p50 {posts['p50_ms']:>7} ms  "
            f"p99 {posts['p99_ms']:>7} ms  ({posts['ok']}/{posts['requests']} "
            f"{posts['expected_status']}) | /healthz {base['rps']:>7} req/s "
            f"p99 {base['p99_ms']:>6} ms | share {rel['rps_share']} | server CPU "
            f"{posts['server_cpu_ms_per_request']} vs {base['server_cpu_ms_per_request']} ms"
            + (
                f", PostgreSQL {posts['database_cpu_ms_per_request']} ms"
                if posts["database_cpu_ms_per_request"] is not None
                else ""
            )
        )
    if "headline" in result:
        head, target = result["headline"], result["target"]
        print(
            f"  best: {head['checkins_per_s']} check-ins/s at c={head['concurrency']} "
            f"(p99 {head['p99_ms']} ms, {head['rps_share']} of /healthz); target "
            f"≥ {target['checkins_per_s']}/s with p99 ≤ {target['p99_ms']:.0f} ms: "
            f"{'met' if target['met'] else 'not met'}"
        )
        db = result["db_check"]
        print(
            f"  database: {db['checkins']} check-ins for {db['expected']} created, occupancy "
            f"{db['occupancy_sum']}, queries per request {result['queries_per_request']}"
        )
    if "through" in result:
        t = result["through"]
        print(
            f"  through {t['url']}: {t['requests']} check-ins, {t['succeeded']} succeeded, "
            f"{t['retried']} retried ({t['failed_attempts']}), {t['recovered_200']} found "
            f"recorded on retry; lost {t['lost']}, duplicates {t['duplicates']}; "
            f"kill {t.get('kill')}"
        )
    if "error" in result:
        print(f"  FAILED: {result['error'].splitlines()[0]}")


if __name__ == "__main__":
    sys.exit(main())
