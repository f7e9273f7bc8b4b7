"""罹災証明書 issued in bulk: certificates per second, total time, and memory against batch size.

Sets up a fresh temporary MACHI_DATA_DIR (SQLite by default, or the PostgreSQL server of
``--database-url``): a disaster, then ``--count`` households (10,000), each with a house, a
flood-depth survey and a reviewed application (made with bulk inserts: the set-up is not what is
measured). Then, in a ``machi shell`` of its own, the bulk-issuance job runs as the worker would
run it (``core.jobs.execute``): each certificate gets its number, its snapshot, its issue record
and its PDF (with an embedded font subset) written under MEDIA_ROOT.

Baseline, in the same process just before: PDFs rendered per second by the same renderer with
nothing else (no database, no file). Memory: the process's peak RSS for a run of ``--count`` and
for a run of a tenth of it, each in a fresh process; flat memory means the two peaks are close.

Target (the issue): ≥ 50 certificates/s, 10,000 in ≤ 200 s, memory not growing with the batch.
Prints a short summary, then exactly one line of JSON (the last line of stdout).

    .venv/bin/python bench/certificates.py
    .venv/bin/python bench/certificates.py --database-url postgresql://postgres@127.0.0.1:5432/machi_bench
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from pages import REPO, SCRUBBED_ENV, _psql, loadavg, log, machine_info, pg_database_name

TARGET_PER_S = 50

SETUP = """
import json, time, uuid
from django.db import connection, transaction
from django.utils import timezone
from machi.core.models import User
from machi.emergency.services import disaster_declare
from machi.recovery.models import (CertificateApplication, House, LedgerHousehold, Survey)

began = time.perf_counter()
staff = User.objects.create(username="bench-recovery")
disaster = disaster_declare(name="令和元年東日本台風", hazards=["flood"], declared_by=None)
today = timezone.localdate()
houses = [House(id=uuid.uuid4(), address=f"埼玉県戸田市美女木{{n // 100 + 1}}-{{n % 100 + 1}}",
                structure="wooden", storeys=2) for n in range({count})]
with transaction.atomic():
    House.objects.bulk_create(houses, batch_size=2000)
    Survey.objects.bulk_create([Survey(id=uuid.uuid4(), house=h, disaster=disaster, round="first",
        method="flood_depth", inputs={{"external_force": True, "depth_above_floor_m": "1.2"}},
        surveyed_on=today, surveyor=staff, damage_class="大規模半壊", flood="床上",
        rule_set="R3.3", rule="床上浸水 ≥ 1.0 m and < 1.8 m") for h in houses], batch_size=2000)
    households = LedgerHousehold.objects.bulk_create([LedgerHousehold(disaster=disaster,
        head_name=f"戸田 {{n}}", address=h.address, house=h) for n, h in enumerate(houses)],
        batch_size=2000)
    CertificateApplication.objects.bulk_create([CertificateApplication(disaster=disaster,
        household=hh, applicant_name=hh.head_name, status="reviewed", reviewed_by=staff,
        reviewed_at=timezone.now()) for hh in households], batch_size=2000)
with connection.cursor() as c:
    c.execute("select sqlite_version()" if connection.vendor == "sqlite" else "show server_version")
    version = c.fetchone()[0]
print(json.dumps({{"disaster_id": disaster.pk, "staff_id": staff.pk, "vendor": connection.vendor,
                  "version": version, "seconds": round(time.perf_counter() - began, 2)}}))
"""

RUN = """
import json, resource, time
from django.utils import timezone
from machi.core import jobs
from machi.core.models import Job
from machi.recovery import certificates
from machi.recovery.models import Certificate, CertificateIssue, IssueBatch

def rss_mb():
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0

# Baseline: the renderer alone, on an unsaved certificate.
sample = Certificate(number="2019-001-000000", head_name="戸田 太郎",
    address="埼玉県戸田市美女木1-2-3", house_address="埼玉県戸田市美女木1-2-3",
    disaster_name="令和元年東日本台風", damage_class="大規模半壊", flood="床上", rule_set="R3.3",
    issued_at=timezone.now())
certificates.render_pdf(sample, version=1)  # the font is loaded once, outside the timing
began = time.perf_counter()
for _ in range({baseline}):
    certificates.render_pdf(sample, version=1)
baseline_per_s = {baseline} / (time.perf_counter() - began)

batch = IssueBatch.objects.create(disaster_id={disaster_id}, created_by_id={staff_id})
job = Job.objects.create(kind=certificates.BULK_KIND, title="bench",
                         params={{"batch_id": batch.pk}}, created_by_id={staff_id})
rss_before = rss_mb()
began = time.perf_counter()
finished = jobs.execute(str(job.pk))
seconds = time.perf_counter() - began
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({{"status": finished.status, "result": finished.result, "error": finished.error,
    "seconds": round(seconds, 2), "certificates": Certificate.objects.count(),
    "issues": CertificateIssue.objects.count(),
    "distinct_numbers": Certificate.objects.values("number").distinct().count(),
    "baseline_pdf_per_s": round(baseline_per_s, 1), "rss_before_mb": round(rss_before, 1),
    "peak_rss_mb": round(peak, 1)}}))
"""


def machi(env: dict[str, str], *args: str, timeout: float = 1800) -> str:
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


def shell(env: dict[str, str], code: str) -> dict[str, Any]:
    return dict(json.loads(machi(env, "shell", "-c", code).strip().splitlines()[-1]))


def one_run(args: argparse.Namespace, count: int, database_url: str) -> dict[str, Any]:
    """A fresh data folder (and database), set up ``count`` applications, issue them all."""
    data_dir = Path(tempfile.mkdtemp(prefix="machi-bench-certificates-"))
    env = {
        k: v for k, v in os.environ.items() if k not in {*SCRUBBED_ENV, "DJANGO_SETTINGS_MODULE"}
    }
    env.update(MACHI_DATA_DIR=str(data_dir), MACHI_LOG_LEVEL="WARNING")
    if database_url:
        name = pg_database_name(database_url)
        _psql(database_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        _psql(database_url, f'CREATE DATABASE "{name}"')
        env["DATABASE_URL"] = database_url
    try:
        machi(env, "migrate", "--no-input")
        machi(env, "init", "--lgcode", "112241")
        setup = shell(env, SETUP.format(count=count))
        log(f"  {count} reviewed applications set up in {setup['seconds']} s")
        result = shell(
            env,
            RUN.format(
                disaster_id=setup["disaster_id"],
                staff_id=setup["staff_id"],
                baseline=args.baseline,
            ),
        )
        files = list((data_dir / "media" / "certificates").rglob("*.pdf"))
        result["pdf_files"] = len(files)
        result["pdf_mean_bytes"] = (
            round(sum(f.stat().st_size for f in files) / len(files)) if files else 0
        )
        result["setup"] = setup
        result["count"] = count
        result["per_s"] = round(result["certificates"] / result["seconds"], 1)
        return result
    finally:
        if database_url:
            _psql(
                database_url,
                f'DROP DATABASE IF EXISTS "{pg_database_name(database_url)}" WITH (FORCE)',
            )
        if not args.keep:
            shutil.rmtree(data_dir, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=10_000)
    parser.add_argument("--baseline", type=int, default=300, help="PDFs rendered for the baseline")
    parser.add_argument("--database-url", default="", help="a scratch PostgreSQL database")
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args(argv)
    result: dict[str, Any] = {
        "benchmark": "certificates",
        "ok": False,
        "machine": {**machine_info(), "loadavg_before": loadavg()},
    }
    try:
        small = max(100, args.count // 10)
        log(f"small run: {small} certificates…")
        result["small"] = one_run(args, small, args.database_url)
        log(f"full run: {args.count} certificates…")
        full = one_run(args, args.count, args.database_url)
        result["full"] = full
        result["machine"]["database"] = full["setup"]["vendor"]
        result["machine"]["database_version"] = full["setup"]["version"]
        growth = full["peak_rss_mb"] - result["small"]["peak_rss_mb"]
        result["headline"] = {
            "certificates": full["certificates"],
            "seconds": full["seconds"],
            "per_s": full["per_s"],
            "baseline_pdf_per_s": full["baseline_pdf_per_s"],
            "share_of_baseline": round(full["per_s"] / full["baseline_pdf_per_s"], 3),
            "peak_rss_mb": full["peak_rss_mb"],
            "peak_rss_mb_at_a_tenth": result["small"]["peak_rss_mb"],
            "peak_rss_growth_mb": round(growth, 1),
        }
        result["target"] = {
            "per_s": TARGET_PER_S,
            "met": full["per_s"] >= TARGET_PER_S and growth < 50,
        }
        result["ok"] = (
            full["status"] == "succeeded"
            and full["certificates"] == args.count == full["distinct_numbers"] == full["pdf_files"]
        )
    except Exception as exc:  # report, and say so in the JSON line
        result["error"] = f"{type(exc).__name__}: {exc}"[-3000:]
    result["machine"]["loadavg_after"] = loadavg()
    head = result.get("headline", {})
    print(
        f"Machi 罹災証明書 bulk issue: {head.get('certificates')} in {head.get('seconds')} s = "
        f"{head.get('per_s')}/s ({head.get('share_of_baseline')} of the bare renderer's "
        f"{head.get('baseline_pdf_per_s')}/s); peak RSS {head.get('peak_rss_mb')} MB vs "
        f"{head.get('peak_rss_mb_at_a_tenth')} MB for a tenth; target ≥ {TARGET_PER_S}/s: "
        f"{'met' if result.get('target', {}).get('met') else 'NOT met'}"
    )
    if "error" in result:
        print(f"  error: {result['error'][:500]}")
    print(json.dumps(result, ensure_ascii=False))
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
