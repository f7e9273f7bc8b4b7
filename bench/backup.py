"""Backup and restore of a sizeable installation, against a plain copy of the same bytes.

Sets up a city in a fresh temporary MACHI_DATA_DIR (SQLite, or the PostgreSQL of
``--database-url``, a scratch database that is dropped), grows its audit log to ``--rows``
events (1,000,000: a year of a mid-sized city's staff work) and adds ``--photos`` incident
photos of ``--photo-kb`` KB each (random bytes: JPEGs do not compress). Then, each as an
administrator types it (one process each, Django's start-up included):

* **baseline**: a plain copy of the same bytes (SQLite: ``cp`` of the database file; PostgreSQL:
  a bare ``pg_dump --format=custom``), plus ``cp`` of the photos;
* ``machi backup`` to a folder, to a ``.tar`` and to a ``.tar.gz``;
* ``machi restore --check`` of the ``.tar.gz`` (reads and hashes everything);
* ``machi restore --force`` of the folder over the running installation's data;
* ``machi restore`` of the ``.tar.gz`` into a new, empty installation (a new machine).

The machine is shared and noisy: read the figures against the baseline of the same run.
Prints a summary, then exactly one line of JSON (the last line of stdout).

    .venv/bin/python bench/backup.py
    .venv/bin/python bench/backup.py --database-url postgresql://postgres@127.0.0.1:5432/machi_bench
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

sys.path.insert(0, str(Path(__file__).resolve().parent))

from pages import REPO, SCRUBBED_ENV, _psql, loadavg, log, machine_info, pg_database_name

GROW = """
import json, random, time
from django.db import connection
from django.utils import timezone
started = time.monotonic()
now = timezone.now()
actions = ["read", "create", "update", "export", "login"]
types = ["shelters.evacuee", "recovery.victim", "procedures.application", "core.user"]
sql = ("INSERT INTO core_auditevent (at, actor_id, actor_username, action, object_type, "
       "object_id, object_repr, ip_address, channel, request_id, detail) "
       "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)")
rows, batch = {rows}, 10_000
with connection.cursor() as cursor:
    for start in range(0, rows, batch):
        cursor.executemany(sql, [
            (now, n % 300, f"staff{{n % 300:03d}}", actions[n % 5], types[n % 4], str(n),
             f"record {{n}}", f"10.0.{{n % 250}}.{{n % 200}}", "web", f"{{n:032x}}",
             json.dumps({{"filters": {{"area": n % 97}}, "page": n % 7}}))
            for n in range(start, min(start + batch, rows))
        ])
vendor = connection.vendor
if vendor == "sqlite":
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        version = cursor.connection.execute("select sqlite_version()").fetchone()[0]
else:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_database_size(current_database()), current_setting('server_version')"
        )
        size, version = cursor.fetchone()
print(json.dumps({{"vendor": vendor, "version": version, "grow_s": time.monotonic() - started,
                  "pg_size": size if vendor != "sqlite" else None}}))
"""


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="audit events")
    parser.add_argument("--photos", type=int, default=200)
    parser.add_argument("--photo-kb", type=int, default=250)
    parser.add_argument("--database-url", default="", help="scratch PostgreSQL database URL")
    parser.add_argument("--machi", type=Path, default=REPO / ".venv" / "bin" / "machi")
    return parser.parse_args(argv)


class Run:
    def __init__(self, machi: Path, env: dict[str, str]) -> None:
        self.machi, self.env = machi, env

    def __call__(self, *args: str, data_dir: Path, database_url: str = "") -> tuple[float, str]:
        env = {**self.env, "MACHI_DATA_DIR": str(data_dir)}
        if database_url:
            env["DATABASE_URL"] = database_url
        started = time.monotonic()
        done = subprocess.run(
            [str(self.machi), *args], env=env, capture_output=True, text=True, check=False
        )
        seconds = time.monotonic() - started
        if done.returncode:
            raise RuntimeError(f"machi {' '.join(args)}: {done.stderr.strip()[-2000:]}")
        return seconds, done.stdout


def tree_size(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def baseline(data_dir: Path, target: Path, database_url: str, env: dict[str, str]) -> float:
    """The same bytes copied plainly: what any backup must at least read and write."""
    target.mkdir()
    started = time.monotonic()
    if database_url:
        subprocess.run(
            ["pg_dump", "--format=custom", f"--file={target / 'dump'}", database_url],
            env=env,
            check=True,
        )
    else:
        shutil.copyfile(data_dir / "machi.sqlite3", target / "machi.sqlite3")
    shutil.copytree(data_dir / "media", target / "media")
    for path in target.rglob("*"):  # as the backup does: on disk before it is done
        if path.is_file():
            with path.open("rb") as handle:
                os.fsync(handle.fileno())
    return time.monotonic() - started


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="machi-bench-backup-"))
    site, new = work / "site", work / "new"
    env = {k: v for k, v in os.environ.items() if k not in SCRUBBED_ENV}
    env["MACHI_LOG_LEVEL"] = "WARNING"
    run = Run(args.machi, env)
    urls = ("", "")
    if args.database_url:
        name = pg_database_name(args.database_url)
        parts = urlsplit(args.database_url)
        urls = (args.database_url, urlunsplit(parts._replace(path=f"/{name}_new")))
        for url in urls:
            _psql(url, f'DROP DATABASE IF EXISTS "{pg_database_name(url)}" WITH (FORCE)')
            _psql(url, f'CREATE DATABASE "{pg_database_name(url)}"')
    result: dict[str, Any] = {"benchmark": "backup", "ok": False}
    try:
        log("setting up…")
        run("init", "--lgcode", "112241", data_dir=site, database_url=urls[0])
        log(f"growing the audit log to {args.rows:,} events…")
        _, out = run(
            "shell", "-c", GROW.format(rows=args.rows), data_dir=site, database_url=urls[0]
        )
        facts = json.loads(out.strip().splitlines()[-1])
        photos = site / "media" / "incidents" / "2026" / "11"
        photos.mkdir(parents=True)
        for n in range(args.photos):
            (photos / f"{n:05d}.jpg").write_bytes(os.urandom(args.photo_kb * 1024))
        database_bytes = (
            facts["pg_size"] if facts["pg_size"] else (site / "machi.sqlite3").stat().st_size
        )
        media_bytes = tree_size(site / "media")
        startup, _ = run("restore", "--help", data_dir=site)

        log("baseline: a plain copy…")
        base = baseline(site, work / "plain", urls[0], env)
        timings: dict[str, float] = {}
        sizes: dict[str, int] = {}
        for kind, name in (("dir", "b"), ("tar", "b.tar"), ("tar.gz", "b.tar.gz")):
            log(f"machi backup ({kind})…")
            timings[f"backup_{kind}"], _ = run(
                "backup", str(work / name), data_dir=site, database_url=urls[0]
            )
            sizes[kind] = tree_size(work / name)
        log("machi restore --check (tar.gz)…")
        timings["check_tar.gz"], _ = run(
            "restore", "--check", str(work / "b.tar.gz"), data_dir=site, database_url=urls[0]
        )
        log("machi restore --force (dir, over the installation)…")
        timings["restore_force_dir"], _ = run(
            "restore", "--force", str(work / "b"), data_dir=site, database_url=urls[0]
        )
        log("machi restore (tar.gz, into a new installation)…")
        timings["restore_new_tar.gz"], _ = run(
            "restore", str(work / "b.tar.gz"), data_dir=new, database_url=urls[1]
        )
        total = database_bytes + media_bytes
        result.update(
            {
                "ok": True,
                "machine": {
                    **machine_info(),
                    "database": facts["vendor"],
                    "database_version": facts["version"],
                    "loadavg": loadavg(),
                },
                "audit_events": args.rows,
                "photos": args.photos,
                "database_mb": round(database_bytes / 1e6, 1),
                "media_mb": round(media_bytes / 1e6, 1),
                "archive_mb": {kind: round(size / 1e6, 1) for kind, size in sizes.items()},
                "grow_s": round(facts["grow_s"], 1),
                "startup_s": round(startup, 2),
                "baseline_copy_s": round(base, 2),
                "seconds": {name: round(value, 2) for name, value in timings.items()},
                "relative_to_baseline": {
                    name: round(value / base, 2) for name, value in timings.items()
                },
                "mb_per_s": {
                    name: round(total / 1e6 / value, 1) for name, value in timings.items()
                },
            }
        )
    finally:
        for url in urls:
            if url:
                try:
                    _psql(url, f'DROP DATABASE IF EXISTS "{pg_database_name(url)}" WITH (FORCE)')
                except (RuntimeError, subprocess.SubprocessError, OSError) as exc:
                    result["cleanup_error"] = str(exc)
        shutil.rmtree(work, ignore_errors=True)
    if result["ok"]:
        print(
            f"Machi backup on {facts['vendor']} {facts['version']}: database "
            f"{result['database_mb']} MB ({args.rows:,} audit events), photos "
            f"{result['media_mb']} MB; process start-up {result['startup_s']} s"
        )
        print(f"  {'plain copy (baseline)':<28} {base:>7.2f} s")
        for name, value in timings.items():
            print(
                f"  {name:<28} {value:>7.2f} s  ×{value / base:>5.2f}  "
                f"{result['mb_per_s'][name]:>6} MB/s"
            )
    print(json.dumps(result, ensure_ascii=False, separators=(",", ":")))
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
