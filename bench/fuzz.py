"""API fuzzing, the long run by hand: schemathesis over every operation, as every role.

The same run as tests/security/test_api_fuzz.py (the CI short run, 3 examples), with as many
examples as asked. Creates a throwaway database (SQLite in a temporary MACHI_DATA_DIR, or the
scratch PostgreSQL database of ``--database-url``, which it creates and drops), migrates it,
builds the same small world (a city, shelters with an opening, one record of each kind a path
can name, a token per role), then for each identity (every staff role, a resident, no
credential) sends every operation ``--examples`` positive and ``--examples`` negative requests
through the whole Django stack in this process (WSGI), each in a transaction rolled back.

Checks: not_a_server_error, status_code_conformance, content_type_conformance,
response_schema_conformance (see the test module for why the others are left out).

Prints per identity: operations, examples (requests made), failures, seconds; the totals; each
failure with a curl line to replay it; then one line of JSON last. Exit status 1 on failures.

    .venv/bin/python bench/fuzz.py --examples 200
    .venv/bin/python bench/fuzz.py --examples 50 --identity hq --identity anonymous
    .venv/bin/python bench/fuzz.py --database-url postgresql://postgres@127.0.0.1:5432/machi_fz
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import shutil
import sys
import tempfile
import time
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
machine_info, pg_database_name = pages.machine_info, pages.pg_database_name


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument(
        "--examples", type=int, default=200, help="per operation, mode and identity"
    )
    parser.add_argument(
        "--identity",
        action="append",
        default=[],
        help="only these identities (repeat; default: all)",
    )
    parser.add_argument("--seed", type=int, default=None, help="default: derandomized")
    parser.add_argument("--database-url", default="", help="scratch PostgreSQL database URL")
    parser.add_argument("--json", default="", help="also write the full report here")
    return parser.parse_args(argv)


def setup_django(data_dir: Path, database_url: str) -> None:
    for name in SCRUBBED_ENV:
        os.environ.pop(name, None)
    os.environ["MACHI_DATA_DIR"] = str(data_dir)
    if database_url:
        os.environ["DATABASE_URL"] = database_url
    os.environ["DJANGO_SETTINGS_MODULE"] = "machi.config.test_settings"
    sys.path.insert(0, str(REPO / "src"))
    sys.path.insert(0, str(REPO))  # tests.security.test_api_fuzz: the world and the run
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def run(args: argparse.Namespace) -> dict[str, Any]:
    from django.db import transaction

    from tests.security import test_api_fuzz as fuzz

    identities = args.identity or list(fuzz.IDENTITIES)
    unknown = sorted(set(identities) - set(fuzz.IDENTITIES))
    if unknown:
        raise SystemExit(f"unknown identities {unknown}; choose from {fuzz.IDENTITIES}")
    # As in the test: one transaction rolled back at the end (the database is thrown away
    # anyway), so what the world's records would set going on commit (responders, jobs that
    # reach for the network) never starts.
    with fuzz.fuzz_settings(), transaction.atomic():
        began = time.perf_counter()
        world = fuzz.build_world()
        schema = fuzz.load_schema()
        log(f"world and schema in {time.perf_counter() - began:.1f} s")
        results = []
        for identity in identities:
            log(f"{identity}: {len(fuzz.operations(schema))} operations…")
            result = fuzz.run_identity(
                schema, world, identity, max_examples=args.examples, seed=args.seed
            )
            log(
                f"{identity}: {result.examples} requests, {len(result.failures)} failures, "
                f"{result.seconds:.1f} s"
            )
            results.append(result)
        transaction.set_rollback(True)
    return {"results": results, "table": fuzz.table(results), "totals": fuzz.totals_line(results)}


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    data_dir = Path(tempfile.mkdtemp(prefix="machi-bench-fuzz-"))
    if args.database_url:
        name = pg_database_name(args.database_url)
        _psql(args.database_url, f'DROP DATABASE IF EXISTS "{name}"')
        _psql(args.database_url, f'CREATE DATABASE "{name}"')
    load_before = loadavg()
    error = ""
    done: dict[str, Any] = {"results": []}
    try:
        setup_django(data_dir, args.database_url)
        done = run(args)
    except Exception as exc:  # reported in the JSON line, which is always printed
        error = repr(exc)
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)
        if args.database_url:
            from django.db import connections

            connections.close_all()
            _psql(
                args.database_url,
                f'DROP DATABASE IF EXISTS "{pg_database_name(args.database_url)}"',
            )
    results = done["results"]
    failures = [f for r in results for f in r.failures]
    from django.db import connection

    result = {
        "benchmark": "fuzz",
        "examples_per_operation": args.examples,
        "seed": args.seed,
        "database": connection.vendor if not error else "",
        "identities": [r.summary() for r in results],
        "operations": max((r.operations for r in results), default=0),
        "requests": sum(r.examples for r in results),
        "failures": len(failures),
        "seconds": round(sum(r.seconds for r in results), 1),
        "error": error,
        "machine": machine_info(),
        "loadavg_before": load_before,
        "loadavg_after": loadavg(),
    }
    if results:
        from tests.security import test_api_fuzz as fuzz

        print(done["table"])
        print(done["totals"])
        if failures:
            print()
            print(fuzz.format_failures(failures))
    if args.json:
        Path(args.json).write_text(
            json.dumps(
                {**result, "failure_details": [f.__dict__ for f in failures]},
                ensure_ascii=False,
                indent=2,
            ),
            encoding="utf-8",
        )
    print(json.dumps(result, ensure_ascii=False))
    return 0 if not error and not failures else 1


if __name__ == "__main__":
    sys.exit(main())
