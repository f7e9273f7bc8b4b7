"""HQ's shelter dashboard with 100 open shelters and 50,000 evacuees present.

Sets up the demo city in a fresh temporary MACHI_DATA_DIR (SQLite, or the PostgreSQL of
``--database-url``), then bulk-loads a disaster with ``--shelters`` open shelters and
``--evacuees`` people checked in (the set-up writes rows in bulk; what is measured is the
dashboard's read path, which is the same whatever wrote them), recounts every shelter through
the product's own service, starts ``machi serve`` (gunicorn, DEBUG off), signs in as ``hq`` and
sends GET requests, interleaved with the same number of ``/healthz`` requests (the baseline):

* ``dashboard``  ``/console/shelters/dashboard/``: the whole page, with the map's data;
* ``refresh``    the same URL as htmx asks for it every 5 s (``HX-Request``): the table only.

Target from the issue: p95 ≤ 300 ms. Prints a summary, then one line of JSON last.

    .venv/bin/python bench/dashboard.py
    .venv/bin/python bench/dashboard.py --database-url postgresql://postgres@127.0.0.1:5432/machi_bench
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

from pages import (
    REPO,
    SCRUBBED_ENV,
    USER,
    BenchTimeout,
    Client,
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

SETUP = """
import json, time, uuid
from decimal import Decimal
from django.db import connection, transaction
from django.utils import timezone
from machi.core import context, services as core_services
from machi.core.models import Municipality, TotpDevice, User
from machi.emergency import services as emergency_services
from machi.shelters import services
from machi.shelters.models import Checkin, Household, Person, Shelter
SHELTERS, EVACUEES = {shelters}, {evacuees}
began = time.perf_counter()
hq = User.objects.get(username="hq")
city = Municipality.objects.get()
with transaction.atomic():
    for n in range(SHELTERS):
        facility = core_services.facility_upsert(
            municipality=city, code=f"BENCH{{n:04d}}", name=f"ベンチ避難所{{n:03d}}",
            address=f"埼玉県戸田市上戸田{{n}}-1", latitude=Decimal("35.8") + Decimal(n) / 1000,
            longitude=Decimal("139.67"), is_shelter=True)
        Shelter.objects.get_or_create(facility=facility, defaults={{"capacity_night": 800}})
with context.acting(user=hq):
    disaster = emergency_services.disaster_declare(
        name="ベンチマーク", hazards=["flood"], declared_by=hq)
    openings = [services.opening_open(shelter=s, disaster=disaster)
                for s in Shelter.objects.filter(facility__code__startswith="BENCH")]
now = timezone.now()
with transaction.atomic():
    households = [Household(code=uuid.uuid4().hex[:24], disaster=disaster)
                  for _ in range((EVACUEES + 1) // 2)]
    Household.objects.bulk_create(households, batch_size=2000)
    people = [Person(household=households[i // 2], family_name="戸田", given_name=str(i),
                     kana_key=f"とだ{{i}}", needs=["infant"] if i % 17 == 0 else [])
              for i in range(EVACUEES)]
    Person.objects.bulk_create(people, batch_size=2000)
    Checkin.objects.bulk_create(
        [Checkin(id=uuid.uuid4(), person=p, disaster=disaster, opening=openings[i % SHELTERS],
                 checked_in_at=now, needs_care=bool(p.needs), conflict=(i % 997 == 0))
         for i, p in enumerate(people)], batch_size=2000)
for opening in openings:
    services.opening_recount(opening=opening)
with connection.cursor() as cursor:
    cursor.execute("select sqlite_version()" if connection.vendor == "sqlite"
                   else "show server_version")
    version = cursor.fetchone()[0]
print(json.dumps({{"vendor": connection.vendor, "version": version,
                  "secret": TotpDevice.objects.get(user__username="{user}").secret,
                  "disaster": disaster.pk, "seconds": round(time.perf_counter() - began, 1)}}))
"""


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shelters", type=int, default=100)
    parser.add_argument("--evacuees", type=int, default=50_000)
    parser.add_argument("--requests", type=int, default=300, help="per target (default 300)")
    parser.add_argument("--concurrency", type=int, default=4, help="client threads (default 4)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--database-url", default="", help="scratch PostgreSQL database URL")
    parser.add_argument("--max-seconds", type=float, default=900.0)
    parser.add_argument("--machi", type=Path, default=REPO / ".venv" / "bin" / "machi")
    return parser.parse_args(argv)


class HtmxClient(Client):
    """The dashboard's own refresh: the same URL with the HX-Request header."""

    def request(self, method: str, path: str, form: dict[str, str] | None = None) -> Any:
        original = self.conn.request

        def with_header(*args: Any, headers: dict[str, str], **kwargs: Any) -> None:
            original(*args, headers={**headers, "HX-Request": "true"}, **kwargs)

        self.conn.request = with_header  # type: ignore[method-assign]
        try:
            return super().request(method, path, form)
        finally:
            self.conn.request = original  # type: ignore[method-assign]


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)

    def on_alarm(signum: int, frame: object) -> None:
        raise BenchTimeout(f"the run took longer than {args.max_seconds:.0f} s")

    signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(int(args.max_seconds))
    data_dir = Path(tempfile.mkdtemp(prefix="machi-bench-dashboard-"))
    env = {k: v for k, v in os.environ.items() if k not in SCRUBBED_ENV}
    env.update({"MACHI_DATA_DIR": str(data_dir), "MACHI_LOG_LEVEL": "WARNING"})
    pg_name = pg_database_name(args.database_url) if args.database_url else ""
    if pg_name:
        env["DATABASE_URL"] = args.database_url
    server = Server(args.machi, env, free_port(), args.workers, data_dir / "server.log")
    result: dict[str, Any] = {"benchmark": "dashboard", "ok": False}
    try:
        if pg_name:
            _psql(args.database_url, f'DROP DATABASE IF EXISTS "{pg_name}" WITH (FORCE)')
            _psql(args.database_url, f'CREATE DATABASE "{pg_name}"')
        server.run("demo", "--no-serve", timeout=300)
        log(f"loading {args.shelters} shelters and {args.evacuees:,} evacuees…")
        script = SETUP.format(shelters=args.shelters, evacuees=args.evacuees, user=USER)
        facts = json.loads(server.run("shell", "-c", script, timeout=600).strip().splitlines()[-1])
        server.start(timeout=120)
        cookies = sign_in(server.port, facts["secret"])
        url = f"/console/shelters/dashboard/?disaster={facts['disaster']}"
        import pages

        targets: list[tuple[str, str, type[Client]]] = [
            ("baseline", "/healthz", Client),
            ("dashboard", url, Client),
            ("refresh", url, HtmxClient),
        ]
        totals = {name: Phase(path) for name, path, _ in targets}
        for round_ in range(args.rounds + 1):  # the first round warms up
            for name, path, client_class in targets:
                pages.Client = client_class  # load() makes its clients from pages.Client
                phase = load(
                    server.port,
                    path,
                    requests=args.requests // args.rounds if round_ else 20,
                    concurrency=args.concurrency,
                    seconds=120,
                    cookies=cookies if name != "baseline" else None,
                )
                if round_:
                    merge(totals[name], phase)
            pages.Client = Client
        figures = {name: summarise(phase) for name, phase in totals.items()}
        base = figures["baseline"]
        result.update(
            {
                "ok": all(f["ok"] == f["requests"] for f in figures.values()),
                "machine": {
                    **machine_info(),
                    "database": facts["vendor"],
                    "database_version": facts["version"],
                    "loadavg": loadavg(),
                },
                "shelters": args.shelters,
                "evacuees": args.evacuees,
                "setup_s": facts["seconds"],
                "client": {"concurrency": args.concurrency, "rounds": args.rounds},
                "pages": figures,
                "relative_to_baseline": {
                    name: {
                        "p95_x": round(figures[name]["p95_ms"] / base["p95_ms"], 2),
                        "rps_share": round(figures[name]["rps"] / base["rps"], 3),
                    }
                    for name in ("dashboard", "refresh")
                },
                "target_p95_ms": 300,
                "server_log_error_lines": server.problems(),
            }
        )
    finally:
        tear_down(server, result, args.database_url, data_dir, keep=False)
    for name in ("baseline", "dashboard", "refresh"):
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
