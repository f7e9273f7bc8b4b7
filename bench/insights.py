"""The insights page over a large period: 100,000 applications, 100,000 deliveries.

Creates a fresh database (SQLite in a temporary MACHI_DATA_DIR, or the scratch PostgreSQL
database of ``--database-url``, which it creates and drops), migrates it, and bulk-loads over
the last 365 days: the procedure catalogue and ``--applications`` applications (100,000; 70%
online, submitted at any hour), ``--questions`` questions to the FAQ assistant (5,000),
``--broadcasts`` broadcasts of 5,000 deliveries each (20), and a disaster with 3 shelters,
3,849 stays (the Toda figure) and a week of Wi-Fi client hashes; then ANALYZEs.

Then, in this process (Django's test client, the whole middleware stack, no HTTP server), signed
in as a DX staff member, it times in interleaved rounds:

* ``baseline``  ``/healthz``: the cost of the stack itself;
* ``figures``   ``selectors.figures()`` for the fiscal year to date (the page's database work);
* ``page``      ``/console/insights/?from=…&to=…``: a year, rendered;
* ``csv``       ``/console/insights/figures.csv`` for the same year.

Target (the issue): the page in well under a second. Prints a summary, then one line of JSON.

    .venv/bin/python bench/insights.py
    .venv/bin/python bench/insights.py --database-url postgresql://postgres@127.0.0.1:5432/machi_bench
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib.util
import json
import os
import random
import shutil
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

# Not on sys.path: this folder's queue.py would hide the standard library's (Django needs it).
BENCH = Path(__file__).resolve().parent
sys.path[:] = [entry for entry in sys.path if Path(entry or ".").resolve() != BENCH]
_spec = importlib.util.spec_from_file_location("bench_pages", BENCH / "pages.py")
assert _spec is not None
assert _spec.loader is not None
pages = sys.modules["bench_pages"] = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(pages)
REPO, SCRUBBED_ENV, _psql, loadavg, log = (
    pages.REPO,
    pages.SCRUBBED_ENV,
    pages._psql,
    pages.loadavg,
    pages.log,
)
machine_info, percentile, pg_database_name = (
    pages.machine_info,
    pages.percentile,
    pages.pg_database_name,
)

TARGET_P95_MS = 1000


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--applications", type=int, default=100_000)
    parser.add_argument("--questions", type=int, default=5_000)
    parser.add_argument("--broadcasts", type=int, default=20)
    parser.add_argument("--deliveries", type=int, default=5_000, help="per broadcast")
    parser.add_argument("--requests", type=int, default=20, help="per target (default 20)")
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--database-url", default="", help="scratch PostgreSQL database URL")
    parser.add_argument("--seed", type=int, default=2019)
    return parser.parse_args(argv)


def setup_django(data_dir: Path, database_url: str) -> None:
    for name in SCRUBBED_ENV:
        os.environ.pop(name, None)
    os.environ["MACHI_DATA_DIR"] = str(data_dir)
    if database_url:
        os.environ["DATABASE_URL"] = database_url
    os.environ["DJANGO_SETTINGS_MODULE"] = "machi.config.test_settings"
    sys.path.insert(0, str(REPO / "src"))
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def load_records(args: argparse.Namespace) -> dict[str, Any]:
    from django.db import connection, transaction
    from django.utils import timezone

    from machi.core.models import Facility, Municipality
    from machi.emergency.models import Disaster
    from machi.guide.models import Feedback, Question
    from machi.notify.models import Broadcast, BroadcastStatus, Delivery, DeliveryStatus
    from machi.procedures import catalogue
    from machi.procedures.models import Application
    from machi.procedures.services import new_reference, out_of_hours
    from machi.shelters.models import Checkin, Household, Opening, OpeningStatus, Person, Shelter
    from machi.wifi.models import ClientSeen, Site

    began = time.perf_counter()
    rng = random.Random(args.seed)
    now = timezone.now()
    procedures = catalogue.catalogue_load()
    rows = []
    for n in range(args.applications):
        procedure = rng.choice(procedures)
        at = now - dt.timedelta(minutes=rng.randint(0, 60 * 24 * 365))
        rows.append(
            Application(
                id=uuid.uuid4(),
                reference=new_reference(),
                procedure=procedure,
                applicant_name=f"申請者 {n}",
                answers={},
                delivery=rng.choice(procedure.deliveries),
                fee_yen=procedure.fee_yen,
                channel="online" if rng.random() < 0.7 else "counter",
                submitted_at=at,
                out_of_hours=out_of_hours(at),
                status="received",
                department=procedure.department,
                due_on=at.date(),
            )
        )
    with transaction.atomic():
        Application.objects.bulk_create(rows, batch_size=2000)
        questions = [
            Question(
                text=f"質問 {n}",
                asked_at=now - dt.timedelta(minutes=rng.randint(0, 60 * 24 * 365)),
                confidence=(c := rng.random()),
                low_confidence=c < 0.35,
                feedback=rng.choice([Feedback.NONE] * 6 + [Feedback.RESOLVED, Feedback.UNRESOLVED]),
            )
            for n in range(args.questions)
        ]
        Question.objects.bulk_create(questions, batch_size=2000)
        for b in range(args.broadcasts):
            started = now - dt.timedelta(days=rng.randint(0, 360), hours=rng.randint(0, 23))
            broadcast = Broadcast.objects.create(
                subject=f"お知らせ {b}",
                body="…",
                channels=["email", "webpush", "line"],
                status=BroadcastStatus.SENT,
                started_at=started,
            )
            Delivery.objects.bulk_create(
                (
                    Delivery(
                        broadcast=broadcast,
                        channel=rng.choice(["email", "webpush", "line"]),
                        status=(
                            DeliveryStatus.DELIVERED
                            if rng.random() < 0.95
                            else DeliveryStatus.PERMANENT_FAILURE
                        ),
                        sent_at=started + dt.timedelta(seconds=rng.expovariate(1 / 40)),
                    )
                    for _ in range(args.deliveries)
                ),
                batch_size=5000,
            )
        city = Municipality.objects.create(lgcode="112241", name="戸田市", prefecture="埼玉県")
        start = now - dt.timedelta(days=60)
        disaster = Disaster.objects.create(
            name="台風", started_at=start, ended_at=start + dt.timedelta(days=7)
        )
        stays, seen = [], []
        for s in range(3):
            facility = Facility.objects.create(
                municipality=city, code=f"B{s:05d}", name=f"第{s}小学校", is_shelter=True
            )
            opening = Opening.objects.create(
                shelter=Shelter.objects.create(facility=facility),
                disaster=disaster,
                status=OpeningStatus.CLOSED,
            )
            site = Site.objects.create(facility=facility)
            for hour in range(7 * 24):
                moment = (start + dt.timedelta(hours=hour)).replace(
                    minute=0, second=0, microsecond=0
                )
                seen += [
                    ClientSeen(site=site, hour=moment, client=f"{s}-{c}")
                    for c in range(rng.randint(50, 500))
                ]
            household = Household.objects.create(code=f"bench-{s}")
            for _ in range(1283):
                came = start + dt.timedelta(minutes=rng.randint(0, 60 * 48))
                stays.append(
                    Checkin(
                        id=uuid.uuid4(),
                        person=Person.objects.create(household=household, family_name="戸田"),
                        disaster=disaster,
                        opening=opening,
                        checked_in_at=came,
                        checked_out_at=came + dt.timedelta(hours=rng.randint(2, 96)),
                    )
                )
        Checkin.objects.bulk_create(stays, batch_size=2000)
        ClientSeen.objects.bulk_create(seen, batch_size=5000)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    return {"seconds": round(time.perf_counter() - began, 1), "vendor": connection.vendor}


def measure(args: argparse.Namespace) -> dict[str, Any]:
    from django.test import Client

    from machi.core import services
    from machi.core.roles import Role
    from machi.insights import selectors
    from machi.insights.period import default_period

    staff = services.staff_create(username="dx", password=None, display_name="DX")
    services.role_grant(user=staff, role=Role.DX)
    client = Client(HTTP_HOST="localhost")
    client.force_login(staff)
    period = default_period()
    year = f"from={(period.end - dt.timedelta(days=364)).isoformat()}&to={period.end.isoformat()}"

    def get(path: str) -> None:
        answer = client.get(path, secure=True)
        if answer.status_code != 200:
            raise RuntimeError(f"{path}: {answer.status_code}")

    targets = {
        "baseline": lambda: get("/healthz"),
        "figures": lambda: selectors.figures(period),
        "page": lambda: get(f"/console/insights/?{year}"),
        "csv": lambda: get(f"/console/insights/figures.csv?{year}"),
    }
    for run in targets.values():  # warm up
        run()
    times: dict[str, list[float]] = {name: [] for name in targets}
    per_round = max(1, args.requests // args.rounds)
    for _round in range(args.rounds):
        for name, run in targets.items():
            for _ in range(per_round):
                began = time.perf_counter()
                run()
                times[name].append((time.perf_counter() - began) * 1000)
    result: dict[str, Any] = {}
    for name, values in times.items():
        ordered = sorted(values)
        result[name] = {
            "n": len(ordered),
            "p50_ms": round(percentile(ordered, 0.5), 1),
            "p95_ms": round(percentile(ordered, 0.95), 1),
        }
    base = result["baseline"]["p50_ms"] or 1.0
    for name in ("figures", "page", "csv"):
        result[name]["p50_relative_to_baseline"] = round(result[name]["p50_ms"] / base, 1)
    return result


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    data_dir = Path(tempfile.mkdtemp(prefix="machi-bench-insights-"))
    if args.database_url:
        name = pg_database_name(args.database_url)
        _psql(args.database_url, f'DROP DATABASE IF EXISTS "{name}"')
        _psql(args.database_url, f'CREATE DATABASE "{name}"')
    load_before = loadavg()
    ok = True
    try:
        setup_django(data_dir, args.database_url)
        log("loading records…")
        loaded = load_records(args)
        log(f"loaded in {loaded['seconds']} s; measuring…")
        timings = measure(args)
    except Exception as error:  # reported in the JSON line, which is always printed
        ok = False
        loaded, timings = {}, {"error": repr(error)}
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)
        if args.database_url:
            from django.db import connections

            connections.close_all()
            _psql(
                args.database_url,
                f'DROP DATABASE IF EXISTS "{pg_database_name(args.database_url)}"',
            )
    result = {
        "benchmark": "insights",
        "applications": args.applications,
        "deliveries": args.broadcasts * args.deliveries,
        "questions": args.questions,
        "load": loaded,
        "timings": timings,
        "target_page_p95_ms": TARGET_P95_MS,
        "met": ok and timings.get("page", {}).get("p95_ms", 1e9) < TARGET_P95_MS,
        "machine": machine_info(),
        "loadavg_before": load_before,
        "loadavg_after": loadavg(),
    }
    if ok:
        for name in ("baseline", "figures", "page", "csv"):
            t = timings[name]
            print(f"{name:9} p50 {t['p50_ms']:8.1f} ms   p95 {t['p95_ms']:8.1f} ms")
    print(json.dumps(result, ensure_ascii=False))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
