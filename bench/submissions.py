"""Residents submitting applications through the HTTP API, served the production way.

Sets up the demo city in a fresh temporary MACHI_DATA_DIR (SQLite by default, or the
PostgreSQL server of ``--database-url``), makes a resident token for each of ``--residents``
(200) residents through the product's identity code (as ``POST /api/v1/identity/email/token``
gives them after the e-mail check), starts ``machi serve`` (gunicorn, sync workers, DEBUG off)
with the residents' per-minute limits raised (a benchmark sends far more than a resident), and
sends ``POST /api/v1/applications`` for the 粗大ごみ procedure (an e-mail level procedure):

* **open**     the 200 residents, one thread and keep-alive connection each, submit on a
  shared schedule at ``--rate`` submissions per second (default 250) for ``--seconds``: the
  load a city sees. Latency counts from the moment a submission was due, so a server that
  falls behind shows it (no coordinated omission);
* **capacity** the same 200 residents submitting back to back (no pause): the most the
  server answers, and the latency of a queue 200 deep.

Each is preceded by the same number of ``GET /healthz`` from 16 threads (the baseline, a
trivial view): read submissions/s as a share of the baseline's req/s in the same run. At the
end the database is checked: one application, one 受付 history entry and one audit event per
201. Prints a short summary, then exactly one line of JSON (the last line of stdout).

    .venv/bin/python bench/submissions.py
    .venv/bin/python bench/submissions.py --database-url postgresql://postgres@127.0.0.1:5432/machi_bench
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import signal
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from checkin import cpu_per_request, cpu_sample, cpu_spent
from pages import (
    REPO,
    SCRUBBED_ENV,
    BenchTimeout,
    Phase,
    Server,
    _psql,
    free_port,
    load,
    loadavg,
    log,
    machine_info,
    pg_database_name,
    summarise,
    tear_down,
)

PATH = "/api/v1/applications"
TARGET_RPS = 200.0
TARGET_P99_MS = 200.0

SETUP = """
import json
from django.db import connection
from machi.procedures.identity import base
from machi.procedures.models import Procedure
assert Procedure.objects.filter(slug="sodai-gomi", active=True).exists()
tokens = [
    base.token_for(base.Identity(level="email", identifier=f"resident{{n}}@example.jp",
                                 email=f"resident{{n}}@example.jp"))
    for n in range({residents})
]
with connection.cursor() as c:
    c.execute("select sqlite_version()" if connection.vendor == "sqlite" else "show server_version")
    version = c.fetchone()[0]
print(json.dumps({{"vendor": connection.vendor, "version": version, "tokens": tokens}}))
"""

CHECK = """
import json
from machi.core.models import AuditEvent
from machi.procedures.models import Application, StatusEntry
print(json.dumps({
    "applications": Application.objects.count(),
    "online": Application.objects.filter(channel="online").count(),
    "history_entries": StatusEntry.objects.count(),
    "create_audit_events": AuditEvent.objects.filter(
        object_type="procedures.application", action="create").count(),
    "distinct_references": Application.objects.values("reference").distinct().count(),
}))
"""


def body(n: int) -> bytes:
    return json.dumps(
        {
            "procedure": "sodai-gomi",
            "answers": {"items": f"ソファ {n % 3 + 1}点", "wish_date": "2026-12-15"},
            "delivery": "electronic",
        },
        ensure_ascii=False,
    ).encode()


def submit_load(
    port: int, tokens: list[str], *, total: int, rate: float | None, seconds: float
) -> tuple[Phase, list[float]]:
    """``total`` submissions from one thread per resident. With ``rate``, submission ``i`` is
    due at ``i / rate`` seconds and goes to resident ``i % len(tokens)``; latency counts from
    when it was due. Without, each resident sends its share back to back.

    Returns the phase (latency from due time) and the service latencies (from sending)."""
    phase = Phase(PATH)
    service: list[float] = []
    timeline: list[tuple[float, float]] = []  # (seconds from the start, latency)
    lock = threading.Lock()
    residents = len(tokens)
    start_at = time.perf_counter() + 0.5  # every thread ready before the first is due
    deadline = time.monotonic() + seconds

    def worker(index: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        headers = {
            "Host": "127.0.0.1",
            "User-Agent": "machi-bench",
            "Content-Type": "application/json",
            "Accept": "application/json",
            "Authorization": f"Bearer {tokens[index]}",
        }
        latencies: list[float] = []
        served: list[float] = []
        moments: list[tuple[float, float]] = []
        statuses: dict[int, int] = {}
        errors: dict[str, int] = {}
        received = 0
        for i in range(index, total, residents):
            if time.monotonic() > deadline:
                with lock:
                    phase.timed_out = True
                break
            due = start_at + i / rate if rate else time.perf_counter()
            wait = due - time.perf_counter()
            if wait > 0:
                time.sleep(wait)
            sent = time.perf_counter()
            try:
                conn.request("POST", PATH, body=body(i), headers=headers)
                response = conn.getresponse()
                data = response.read()
            except (OSError, http.client.HTTPException) as exc:
                conn.close()
                errors[type(exc).__name__] = errors.get(type(exc).__name__, 0) + 1
                continue
            done = time.perf_counter()
            latencies.append(done - (due if rate else sent))
            served.append(done - sent)
            moments.append((sent - start_at, done - (due if rate else sent)))
            statuses[response.status] = statuses.get(response.status, 0) + 1
            received += len(data)
            if response.will_close:
                conn.close()
        conn.close()
        with lock:
            phase.latencies.extend(latencies)
            service.extend(served)
            timeline.extend(moments)
            phase.bytes_total += received
            for key, count in statuses.items():
                phase.statuses[key] = phase.statuses.get(key, 0) + count
            for name, count in errors.items():
                phase.errors[name] = phase.errors.get(name, 0) + count

    threads = [threading.Thread(target=worker, args=(n,), daemon=True) for n in range(residents)]
    cpu_before = time.process_time()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=seconds + 60)
    phase.elapsed = time.perf_counter() - start_at
    phase.cpu_client = time.process_time() - cpu_before
    phase.timeline = timeline  # type: ignore[attr-defined]
    return phase, service


def per_second(timeline: list[tuple[float, float]]) -> list[list[float]]:
    """[second, submissions sent in it, their worst latency in ms]: where the tail comes from."""
    seconds: dict[int, list[float]] = {}
    for moment, latency in timeline:
        seconds.setdefault(int(moment), []).append(latency)
    return [
        [second, len(found), round(max(found) * 1000, 1)]
        for second, found in sorted(seconds.items())
    ]


def summarise_submissions(phase: Phase, service: list[float]) -> dict[str, Any]:
    summary = summarise(phase)
    ok = phase.statuses.get(201, 0)
    ordered = sorted(service)
    summary.update(
        {
            "ok": ok,
            "expected_status": 201,
            "rps": round(ok / phase.elapsed, 1) if phase.elapsed else 0.0,
            "service_p50_ms": round(ordered[len(ordered) // 2] * 1000, 2) if ordered else None,
            "service_p99_ms": round(
                ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000, 2
            )
            if ordered
            else None,
        }
    )
    return summary


def measured(
    server: Server,
    tokens: list[str],
    *,
    total: int,
    rate: float | None,
    seconds: float,
    database_url: str,
) -> dict[str, Any]:
    before = cpu_sample(server, database_url)
    base = load(server.port, "/healthz", requests=total, concurrency=16, seconds=seconds)
    middle = cpu_sample(server, database_url)
    phase, service = submit_load(server.port, tokens, total=total, rate=rate, seconds=seconds)
    after = cpu_sample(server, database_url)
    base_summary = {
        **summarise(base),
        **cpu_per_request(cpu_spent(before, middle), base, database_url),
    }
    posts = {
        **summarise_submissions(phase, service),
        **cpu_per_request(cpu_spent(middle, after), phase, database_url),
        "per_second": per_second(getattr(phase, "timeline", [])),
    }
    return {
        "offered_rate": rate,
        "residents": len(tokens),
        "submissions": posts,
        "baseline": base_summary,
        "rps_share_of_baseline": round(posts["rps"] / base_summary["rps"], 3)
        if base_summary["rps"]
        else None,
    }


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--residents", type=int, default=200, help="concurrent residents (200)")
    parser.add_argument("--rate", type=float, default=250.0, help="offered submissions/s (250)")
    parser.add_argument("--seconds", type=float, default=20.0, help="length of the open run (20)")
    parser.add_argument("--capacity", type=int, default=4000, help="back-to-back submissions")
    parser.add_argument("--warmup", type=int, default=400, help="unmeasured submissions")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers (default 2)")
    parser.add_argument("--max-seconds", type=float, default=900.0, help="bound of the run")
    parser.add_argument(
        "--database-url",
        default="",
        help="PostgreSQL URL of a scratch database, created and dropped by this run; "
        "default SQLite",
    )
    parser.add_argument(
        "--machi", type=Path, default=REPO / ".venv" / "bin" / "machi", help="machi command"
    )
    parser.add_argument("--keep", action="store_true", help="keep the temporary data folder")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if not args.machi.exists():
        raise SystemExit(f"{args.machi} not found: run `make install` first")

    def on_alarm(signum: int, frame: object) -> None:
        raise BenchTimeout(f"the run took longer than {args.max_seconds:.0f} s")

    signal.signal(signal.SIGALRM, on_alarm)
    signal.signal(signal.SIGTERM, lambda signum, frame: (_ for _ in ()).throw(SystemExit(143)))
    signal.alarm(int(args.max_seconds))
    data_dir = Path(tempfile.mkdtemp(prefix="machi-bench-submissions-"))
    env = {k: v for k, v in os.environ.items() if k not in SCRUBBED_ENV}
    env.update(
        {
            "MACHI_DATA_DIR": str(data_dir),
            "MACHI_LOG_LEVEL": "WARNING",
            "MACHI_PROCEDURES_API_RESIDENT_RATE": "1000000",
            "MACHI_PROCEDURES_API_IP_RATE": "100000000",
        }
    )
    pg_name = ""
    if args.database_url:
        pg_name = pg_database_name(args.database_url)
        env["DATABASE_URL"] = args.database_url
    server = Server(args.machi, env, free_port(), args.workers, data_dir / "server.log")
    result: dict[str, Any] = {"benchmark": "submissions", "ok": False}
    code = 1
    try:
        if pg_name:
            _psql(args.database_url, f'DROP DATABASE IF EXISTS "{pg_name}" WITH (FORCE)')
            _psql(args.database_url, f'CREATE DATABASE "{pg_name}"')
        server.run("demo", "--no-serve", timeout=300)
        facts = json.loads(
            server.run("shell", "-c", SETUP.format(residents=args.residents), timeout=300)
            .strip()
            .splitlines()[-1]
        )
        tokens: list[str] = facts.pop("tokens")
        startup_s = server.start(timeout=120)
        log(f"  warm-up: {args.warmup} submissions")
        load(server.port, "/healthz", requests=400, concurrency=8, seconds=60)
        warm, _ = submit_load(server.port, tokens[:16], total=args.warmup, rate=None, seconds=120)
        if warm.statuses.get(201, 0) != args.warmup:
            raise RuntimeError(f"warm-up: {warm.statuses} {warm.errors}\n{server.tail(20)}")
        load_before = loadavg()
        total_open = int(args.rate * args.seconds)
        log(f"  open: {args.residents} residents, {args.rate:.0f}/s for {args.seconds:.0f} s")
        open_run = measured(
            server,
            tokens,
            total=total_open,
            rate=args.rate,
            seconds=args.seconds + 120,
            database_url=args.database_url,
        )
        log(f"  capacity: {args.capacity} back to back")
        capacity = measured(
            server,
            tokens,
            total=args.capacity,
            rate=None,
            seconds=300,
            database_url=args.database_url,
        )
        server.stop()
        check = json.loads(server.run("shell", "-c", CHECK, timeout=300).strip().splitlines()[-1])
        created = args.warmup + open_run["submissions"]["ok"] + capacity["submissions"]["ok"]
        consistent = (
            check["applications"] == created
            and check["history_entries"] == created
            and check["create_audit_events"] == created
            and check["distinct_references"] == created
        )
        sub = open_run["submissions"]
        result.update(
            {
                "machine": machine_info(),
                "database": dict(facts),
                "workers": args.workers,
                "server_start_s": round(startup_s, 2),
                "loadavg_before": load_before,
                "loadavg_after": loadavg(),
                "open": open_run,
                "capacity": capacity,
                "database_check": {**check, "expected": created, "consistent": consistent},
                "targets": {"rps": TARGET_RPS, "p99_ms": TARGET_P99_MS},
                "met": sub["rps"] >= TARGET_RPS and sub["p99_ms"] <= TARGET_P99_MS,
                "ok": consistent and sub["ok"] == total_open and not sub["timed_out"],
            }
        )
        code = 0 if result["ok"] else 1
    except (BenchTimeout, RuntimeError, OSError, ValueError) as exc:
        result["error"] = f"{type(exc).__name__}: {exc}"
    finally:
        tear_down(server, result, args.database_url, data_dir, keep=args.keep)
    for name in ("open", "capacity"):
        run = result.get(name)
        if run:
            s = run["submissions"]
            log(
                f"{name:9} {s['rps']:7.1f} submissions/s  p50 {s['p50_ms']} ms"
                f"  p99 {s['p99_ms']} ms  (service p99 {s['service_p99_ms']} ms;"
                f" /healthz {run['baseline']['rps']} req/s)"
            )
    print(json.dumps(result, ensure_ascii=False))
    return code


if __name__ == "__main__":
    raise SystemExit(main())
