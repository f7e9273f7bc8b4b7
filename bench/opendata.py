"""Open data: regenerating every dataset for a city of 5,000 facilities, and package_search over
a catalogue of 500 datasets.

Sets up the demo city in a fresh temporary MACHI_DATA_DIR (SQLite, or the PostgreSQL of
``--database-url``) and grows it to ``--facilities`` facilities (5,000: a third of them emergency
evacuation sites, a fifth shelters with their hazards and capacity, a tenth Wi-Fi sites with an
access point each) and the catalogue to ``--datasets`` datasets (500) by registering datasets
published elsewhere. Then:

* **regeneration**: ``services.refresh(force=True)`` makes, validates and publishes every
  generated file (both layouts where there are two), ``--rounds`` times; the baseline in the
  same process is one SELECT of every facility's values (what any generator must read). Also
  the cost of the minute's task when nothing changed (fingerprints only). Target ≤ 5 s.
* **package_search**: ``machi serve`` (gunicorn, DEBUG off) answers the CKAN API with several
  queries (words, a filter query with sorting and 100 rows, facets, package_show), interleaved
  with ``/healthz`` (the baseline). Target p95 ≤ 50 ms.

Prints a summary, then one line of JSON last.

    .venv/bin/python bench/opendata.py
    .venv/bin/python bench/opendata.py --database-url postgresql://postgres@127.0.0.1:5432/machi_bench
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
from urllib.parse import urlencode

sys.path.insert(0, str(Path(__file__).resolve().parent))

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
    summarise,
    tear_down,
)

TARGET_REGENERATE_S = 5.0
TARGET_SEARCH_P95_MS = 50

SETUP = """
import json, random, statistics, time
from decimal import Decimal
from django.db import connection, transaction
from machi.core.hazards import Hazard
from machi.core.models import Area, Facility, Municipality
from machi.opendata import services
from machi.opendata.models import Dataset, Resource
from machi.shelters.models import Shelter
from machi.wifi.models import AccessPoint, Driver, ProfileKind, Site, SsidProfile

from django.urls import get_resolver
get_resolver().url_patterns  # as in a running web process or worker: every view imported
rng = random.Random(2019)
KANA = "ゼロ イチ ニ サン ヨン ゴ ロク ナナ ハチ キュウ".split()
def kana(n):
    return "".join(KANA[int(c)] for c in str(n))
city = Municipality.objects.get()
areas = list(Area.objects.filter(municipality=city)) or [None]
hazards = [h.value for h in Hazard]
wanted = {facilities} - Facility.objects.count()
towns = ["上戸田", "下戸田", "新曽", "美女木"]
kinds = ["公民館", "小学校", "中学校", "公園", "集会所", "体育館", "図書館", "保育園"]
began = time.perf_counter()
with transaction.atomic():
    made = Facility.objects.bulk_create([
        Facility(municipality=city, code=f"B{{n:07d}}", name=f"戸田{{rng.choice(kinds)}}{{n}}",
            name_kana="トダシセツ" + kana(n), name_en=f"Toda facility {{n}}",
            address=f"埼玉県戸田市{{rng.choice(towns)}}{{n % 9 + 1}}-{{n % 30 + 1}}-{{n % 7 + 1}}",
            area=rng.choice(areas),
            latitude=Decimal("35.78") + Decimal(rng.randint(0, 60000)) / Decimal(1000000),
            longitude=Decimal("139.64") + Decimal(rng.randint(0, 60000)) / Decimal(1000000),
            is_evacuation_site=n % 3 == 0, is_shelter=n % 5 == 0, is_wifi_site=n % 10 == 0)
        for n in range(max(wanted, 0))
    ], batch_size=1000)
    made = list(Facility.objects.filter(code__startswith="B"))
    Shelter.objects.bulk_create([
        Shelter(facility=f, capacity_night=rng.randint(50, 800),
                hazards=rng.sample(hazards, rng.randint(1, 4)),
                target_areas="上戸田一丁目、上戸田二丁目", phone="048-441-1800")
        for f in made if f.is_evacuation_site or f.is_shelter
    ], batch_size=1000)
    free, _ = SsidProfile.objects.get_or_create(
        name="bench free", defaults={{"kind": ProfileKind.FREE, "ssid": "Toda_Free_Wi-Fi"}})
    sites = Site.objects.bulk_create(
        [Site(facility=f, provides_area="館内") for f in made if f.is_wifi_site])
    aps = AccessPoint.objects.bulk_create([
        AccessPoint(site=s, name=f"bench-{{s.pk}}",
                    mac="02:" + ":".join(f"{{(s.pk >> k) & 255:02x}}" for k in (32, 24, 16, 8, 0)),
                    management_url="http://127.0.0.1:9/ubus", driver=Driver.OPENWRT)
        for s in sites])
    AccessPoint.profiles.through.objects.bulk_create([
        AccessPoint.profiles.through(accesspoint_id=ap.pk, ssidprofile_id=free.pk) for ap in aps])
services.catalogue_ensure()
extra = {datasets} - Dataset.objects.count()
topics = ["AED設置箇所", "介護サービス事業所", "医療機関", "文化財", "観光施設", "イベント",
          "公衆トイレ", "消防水利施設", "地域・年齢別人口", "子育て施設", "人口統計", "予算",
          "ごみ収集日"]
with transaction.atomic():
    for n in range(max(extra, 0)):
        topic = topics[n % len(topics)]
        d = Dataset.objects.create(
            name=f"bench-{{n:04d}}", title=f"{{topic}}一覧 {{2000 + n % 26}}年度",
            notes=f"{{topic}}のデータです。毎年度更新します。",
            tags=[topic, "統計" if n % 2 else "施設"],
            theme=["行政", "防災・安全", "健康・福祉", "観光"][n % 4], frequency="annual")
        Resource.objects.create(
            dataset=d, key="main", name=f"{{topic}}", format=["CSV", "XLSX", "PDF"][n % 3],
            url=f"https://www.city.example.jp/opendata/{{n}}.csv")
with connection.cursor() as c:
    c.execute("ANALYZE")
    c.execute("select sqlite_version()" if connection.vendor == "sqlite" else "show server_version")
    version = c.fetchone()[0]
setup_s = time.perf_counter() - began

regenerate, baseline, outcomes = [], [], []
for _ in range({rounds}):
    t = time.perf_counter()
    rows = list(Facility.objects.values(
        "pk", "code", "name", "name_kana", "address", "latitude", "longitude", "area__name"))
    baseline.append(time.perf_counter() - t)
    t = time.perf_counter()
    outcomes = services.refresh(force=True)
    regenerate.append(time.perf_counter() - t)
t = time.perf_counter()
unchanged = services.refresh()
idle = time.perf_counter() - t
print(json.dumps({{"vendor": connection.vendor, "version": version, "setup_s": round(setup_s, 2),
    "facilities": Facility.objects.count(), "datasets": Dataset.objects.count(),
    "regenerate_s": [round(x, 3) for x in regenerate],
    "baseline_select_s": [round(x, 4) for x in baseline],
    "idle_refresh_s": round(idle, 4), "idle_files_made": len(unchanged),
    "files": [{{"file": f"{{o.resource.dataset.name}}:{{o.resource.key}}", "rows": o.report.rows,
        "errors": o.report.errors, "warnings": o.report.warnings, "published": o.report.published,
        "seconds": o.report.seconds}} for o in outcomes]}}, ensure_ascii=False))
"""


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--facilities", type=int, default=5_000)
    parser.add_argument("--datasets", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=3, help="regenerations (default 3)")
    parser.add_argument("--requests", type=int, default=600, help="per target (default 600)")
    parser.add_argument("--concurrency", type=int, default=4, help="client threads (default 4)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--database-url", default="", help="scratch PostgreSQL database URL")
    parser.add_argument("--max-seconds", type=float, default=900.0)
    parser.add_argument("--machi", type=Path, default=REPO / ".venv" / "bin" / "machi")
    return parser.parse_args(argv)


def action(name: str, **params: str) -> str:
    return f"/api/3/action/{name}?{urlencode(params)}" if params else f"/api/3/action/{name}"


FACETS = '["tags","res_format","groups"]'
TARGETS = [
    ("baseline", "/healthz"),
    ("search words", action("package_search", q="避難 一覧")),
    (
        "search fq+sort",
        action("package_search", fq="tags:AED設置箇所", sort="name asc", rows="100"),
    ),
    ("search facets", action("package_search", q="データ", **{"facet.field": FACETS})),
    ("search all", action("package_search", rows="1000")),
    ("package_show", action("package_show", id="evacuation_space")),
]
SEARCHES = ("search words", "search fq+sort", "search facets", "package_show")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)

    def on_alarm(signum: int, frame: object) -> None:
        raise BenchTimeout(f"the run took longer than {args.max_seconds:.0f} s")

    signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(int(args.max_seconds))
    data_dir = Path(tempfile.mkdtemp(prefix="machi-bench-opendata-"))
    env = {k: v for k, v in os.environ.items() if k not in SCRUBBED_ENV}
    env.update(
        {
            "MACHI_DATA_DIR": str(data_dir),
            "MACHI_LOG_LEVEL": "WARNING",
            "MACHI_OPENDATA_RATE_LIMIT": "100000000",  # one client address sends everything
        }
    )
    pg_name = pg_database_name(args.database_url) if args.database_url else ""
    if pg_name:
        env["DATABASE_URL"] = args.database_url
    server = Server(args.machi, env, free_port(), args.workers, data_dir / "server.log")
    result: dict[str, Any] = {"benchmark": "opendata", "ok": False}
    try:
        if pg_name:
            _psql(args.database_url, f'DROP DATABASE IF EXISTS "{pg_name}" WITH (FORCE)')
            _psql(args.database_url, f'CREATE DATABASE "{pg_name}"')
        server.run("demo", "--no-serve", timeout=300)
        log(f"growing the city to {args.facilities:,} facilities and {args.datasets} datasets…")
        script = SETUP.format(
            facilities=args.facilities, datasets=args.datasets, rounds=args.rounds
        )
        facts = json.loads(server.run("shell", "-c", script, timeout=900).strip().splitlines()[-1])
        server.start(timeout=120)
        totals = {name: Phase(path) for name, path in TARGETS}
        rounds = 3
        for round_ in range(rounds + 1):  # the first round warms up
            for name, path in TARGETS:
                phase = load(
                    server.port,
                    path,
                    requests=args.requests // rounds if round_ else 20,
                    concurrency=args.concurrency,
                    seconds=180,
                )
                if round_:
                    merge(totals[name], phase)
        figures = {name: summarise(phase) for name, phase in totals.items()}
        base = figures["baseline"]
        worst = max(figures[n]["p95_ms"] for n in SEARCHES)
        best_regen = min(facts["regenerate_s"])
        result.update(
            {
                "ok": all(f["ok"] == f["requests"] for f in figures.values())
                and all(f["published"] for f in facts["files"]),
                "machine": {
                    **machine_info(),
                    "database": facts["vendor"],
                    "database_version": facts["version"],
                    "loadavg": loadavg(),
                },
                "facilities": facts["facilities"],
                "datasets": facts["datasets"],
                "setup_s": facts["setup_s"],
                "regeneration": {
                    "seconds": facts["regenerate_s"],
                    "baseline_select_s": facts["baseline_select_s"],
                    "idle_refresh_s": facts["idle_refresh_s"],
                    "idle_files_made": facts["idle_files_made"],
                    "files": facts["files"],
                    "target_s": TARGET_REGENERATE_S,
                    "met": max(facts["regenerate_s"]) <= TARGET_REGENERATE_S,
                },
                "api": figures,
                "relative_to_baseline": {
                    name: round(figures[name]["p95_ms"] / base["p95_ms"], 2)
                    for name in figures
                    if name != "baseline"
                },
                "target": {
                    "search_p95_ms": TARGET_SEARCH_P95_MS,
                    "met": worst <= TARGET_SEARCH_P95_MS,
                },
                "server_log_error_lines": server.problems(),
            }
        )
        log(f"regeneration best {best_regen:.2f} s")
    finally:
        tear_down(server, result, args.database_url, data_dir, keep=False)
    regeneration = result.get("regeneration")
    if regeneration:
        print(
            f"  regenerate every dataset: {regeneration['seconds']} s "
            f"(SELECT of every facility {regeneration['baseline_select_s']} s; "
            f"nothing changed: {regeneration['idle_refresh_s']} s)"
        )
        for f in regeneration["files"]:
            print(
                f"    {f['file']:<32} {f['rows']:>6} rows  {f['seconds']:>6.3f} s  "
                f"errors {f['errors']} warnings {f['warnings']}"
            )
    for name, _path in TARGETS:
        if name in result.get("api", {}):
            f = result["api"][name]
            print(
                f"  {name:<15} p50 {f['p50_ms']:>8} ms  p95 {f['p95_ms']:>8} ms  "
                f"{f['rps']:>7} req/s  ({f['ok']}/{f['requests']} ok)"
            )
    print(json.dumps(result, ensure_ascii=False, separators=(",", ":")))
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
