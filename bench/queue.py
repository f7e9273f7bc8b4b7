"""The staff queue of online applications with 100,000 applications in the database.

Sets up the demo city in a fresh temporary MACHI_DATA_DIR (SQLite, or the PostgreSQL of
``--database-url``) and bulk-loads ``--applications`` applications (100,000) over the demo's
procedures and departments, a fifth of them finished and some overdue, then ANALYZEs. It starts
``machi serve`` (gunicorn, DEBUG off), signs in as the demo's counter clerk (市民課) and sends
GET requests, interleaved with the same number of ``/healthz`` (the baseline):

* ``queue``    ``/console/procedures/``: the department's open applications, earliest due first;
* ``overdue``  the same, overdue only;
* ``page 20``  the twentieth page of the queue.

Every view writes one audit event per application shown (50). Target (the issue): p95 ≤ 200 ms.
Prints a summary, then one line of JSON last.

    .venv/bin/python bench/queue.py
    .venv/bin/python bench/queue.py --database-url postgresql://postgres@127.0.0.1:5432/machi_bench
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import pages
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
    merge,
    pg_database_name,
    sign_in,
    summarise,
    tear_down,
)

CLERK = "counter"
TARGET_P95_MS = 200

SETUP = """
import datetime as dt, json, random, time, uuid
from django.db import connection, transaction
from django.utils import timezone
from machi.core.models import TotpDevice, User
from machi.procedures.models import Application, Procedure, StatusEntry
from machi.procedures.services import new_reference, out_of_hours

began = time.perf_counter()
rng = random.Random(2019)
procedures = list(Procedure.objects.all())
statuses = ["received", "reviewing", "correction", "approved", "issued", "sent", "rejected"]
weights = [40, 20, 5, 10, 5, 15, 5]
now = timezone.now()
rows, history = [], []
for n in range({count}):
    procedure = rng.choice(procedures)
    at = now - dt.timedelta(minutes=rng.randint(0, 60 * 24 * 120))
    status = rng.choices(statuses, weights)[0]
    app = Application(id=uuid.uuid4(), reference=new_reference(), procedure=procedure,
        applicant_name=f"申請者 {{n}}", answers={{}}, delivery=procedure.deliveries[0],
        fee_yen=procedure.fee_yen, channel="online", submitted_at=at,
        out_of_hours=out_of_hours(at), status=status, department=procedure.department,
        due_on=(at + dt.timedelta(days=procedure.target_days + 2)).date())
    rows.append(app)
    history.append(StatusEntry(application=app, status=status, at=at))
with transaction.atomic():
    Application.objects.bulk_create(rows, batch_size=2000)
    StatusEntry.objects.bulk_create(history, batch_size=5000)
with connection.cursor() as c:
    # Statistics, as a database that grew to this size has them (autovacuum would analyse
    # after a bulk load like this one within a minute; the planner guesses badly until then).
    c.execute("ANALYZE")
    c.execute("select sqlite_version()" if connection.vendor == "sqlite" else "show server_version")
    version = c.fetchone()[0]
clerk = User.objects.get(username="{user}")
print(json.dumps({{"vendor": connection.vendor, "version": version,
    "secret": TotpDevice.objects.get(user=clerk).secret, "department": clerk.department,
    "in_department": Application.objects.filter(department=clerk.department).count(),
    "seconds": round(time.perf_counter() - began, 2)}}))
"""


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--applications", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=300, help="per target (default 300)")
    parser.add_argument("--concurrency", type=int, default=4, help="client threads (default 4)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--database-url", default="", help="scratch PostgreSQL database URL")
    parser.add_argument("--max-seconds", type=float, default=900.0)
    parser.add_argument("--machi", type=Path, default=REPO / ".venv" / "bin" / "machi")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)

    def on_alarm(signum: int, frame: object) -> None:
        raise BenchTimeout(f"the run took longer than {args.max_seconds:.0f} s")

    signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(int(args.max_seconds))
    data_dir = Path(tempfile.mkdtemp(prefix="machi-bench-queue-"))
    env = {k: v for k, v in os.environ.items() if k not in SCRUBBED_ENV}
    env.update({"MACHI_DATA_DIR": str(data_dir), "MACHI_LOG_LEVEL": "WARNING"})
    pg_name = pg_database_name(args.database_url) if args.database_url else ""
    if pg_name:
        env["DATABASE_URL"] = args.database_url
    server = Server(args.machi, env, free_port(), args.workers, data_dir / "server.log")
    result: dict[str, Any] = {"benchmark": "queue", "ok": False}
    try:
        if pg_name:
            _psql(args.database_url, f'DROP DATABASE IF EXISTS "{pg_name}" WITH (FORCE)')
            _psql(args.database_url, f'CREATE DATABASE "{pg_name}"')
        server.run("demo", "--no-serve", timeout=300)
        log(f"loading {args.applications:,} applications…")
        script = SETUP.format(count=args.applications, user=CLERK)
        facts = json.loads(server.run("shell", "-c", script, timeout=900).strip().splitlines()[-1])
        server.start(timeout=120)
        pages.USER = CLERK  # sign_in() signs in as pages.USER
        cookies = sign_in(server.port, facts["secret"])
        targets = [
            ("baseline", "/healthz"),
            ("queue", "/console/procedures/"),
            ("overdue", "/console/procedures/?overdue=1"),
            ("page 20", "/console/procedures/?page=20"),
        ]
        totals = {name: Phase(path) for name, path in targets}
        for round_ in range(args.rounds + 1):  # the first round warms up
            for name, path in targets:
                phase = load(
                    server.port,
                    path,
                    requests=args.requests // args.rounds if round_ else 20,
                    concurrency=args.concurrency,
                    seconds=180,
                    cookies=cookies if name != "baseline" else None,
                )
                if round_:
                    merge(totals[name], phase)
        figures = {name: summarise(phase) for name, phase in totals.items()}
        base = figures["baseline"]
        worst = max(figures[n]["p95_ms"] for n in ("queue", "overdue", "page 20"))
        result.update(
            {
                "ok": all(f["ok"] == f["requests"] for f in figures.values()),
                "machine": {
                    **machine_info(),
                    "database": facts["vendor"],
                    "database_version": facts["version"],
                    "loadavg": loadavg(),
                },
                "applications": args.applications,
                "in_department": facts["in_department"],
                "setup_s": facts["seconds"],
                "client": {"concurrency": args.concurrency, "rounds": args.rounds},
                "pages": figures,
                "relative_to_baseline": {
                    name: {
                        "p95_x": round(figures[name]["p95_ms"] / base["p95_ms"], 2),
                        "rps_share": round(figures[name]["rps"] / base["rps"], 3),
                    }
                    for name in ("queue", "overdue", "page 20")
                },
                "target": {"p95_ms": TARGET_P95_MS, "met": worst <= TARGET_P95_MS},
                "server_log_error_lines": server.problems(),
            }
        )
    finally:
        tear_down(server, result, args.database_url, data_dir, keep=False)
    for name in ("baseline", "queue", "overdue", "page 20"):
        if name in result.get("pages", {}):
            f = result["pages"][name]
            print(
                f"  {name:<10} p50 {f['p50_ms']:>8} ms  p95 {f['p95_ms']:>8} ms  "
                f"{f['rps']:>7} req/s  ({f['ok']}/{f['requests']} ok)"
            )
    print(json.dumps(result, ensure_ascii=False, separators=(",", ":")))
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
