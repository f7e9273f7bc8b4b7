"""The access matrix's figures: its size (endpoint rows × callers), and every cell run.

Counts the rows, callers and cells of ``tests/security/matrix.py`` (and what each kind of cell
expects), then runs ``tests/security/test_access_matrix.py`` in a child pytest with a JUnit
report and counts the cells that passed and failed. The baseline, measured in the same run, is
the same child pytest running one trivial test: what remains is the matrix's own cost.

    .venv/bin/python bench/access_matrix.py
    .venv/bin/python bench/access_matrix.py --database-url postgresql://postgres@127.0.0.1:5432/machi_am

With ``--database-url`` pytest-django creates (and drops) ``test_<name>`` beside it. Prints a
summary, then one line of JSON last. Exit status 1 if any cell failed.
"""

from __future__ import annotations

import argparse
import collections
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from defusedxml import ElementTree

# Not on sys.path: this folder's queue.py would hide the standard library's (Django needs it).
BENCH = Path(__file__).resolve().parent
sys.path[:] = [entry for entry in sys.path if Path(entry or ".").resolve() != BENCH]
_spec = importlib.util.spec_from_file_location("bench_pages", BENCH / "pages.py")
assert _spec is not None
assert _spec.loader is not None
pages = sys.modules["bench_pages"] = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(pages)
REPO = pages.REPO
BASELINE = "tests/core/test_japanese.py::test_excel_csv_has_bom_and_crlf"


def matrix_size() -> dict[str, Any]:
    sys.path.insert(0, str(REPO))
    sys.path.insert(0, str(REPO / "src"))
    from tests.security import matrix

    cells = collections.Counter(
        row.shown(column) for row in matrix.MATRIX for column in matrix.COLUMNS
    )
    routes = {row.route for row in matrix.MATRIX}
    return {
        "rows": len(matrix.MATRIX),
        "distinct_endpoints": len(routes),
        "api_rows": sum(1 for row in matrix.MATRIX if row.api),
        "idor_rows": sum(1 for row in matrix.MATRIX if "IDOR" in row.label),
        "callers": len(matrix.COLUMNS),
        "cells": len(matrix.MATRIX) * len(matrix.COLUMNS),
        "expected": dict(cells.most_common()),
        "no_personal_data": len(matrix.NO_PERSONAL_DATA),
    }


def run_pytest(target: str, database_url: str | None) -> dict[str, Any]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MACHI_", "DATABASE_URL"))}
    if database_url:
        env["DATABASE_URL"] = database_url
    with tempfile.TemporaryDirectory() as folder:
        report = Path(folder) / "junit.xml"
        started = time.perf_counter()
        result = subprocess.run(
            [
                sys.executable, "-m", "pytest", target, "-q", "-p", "no:cacheprovider",
                f"--junitxml={report}",
            ],
            cwd=REPO, env=env, capture_output=True, text=True, check=False,
        )  # fmt: skip
        seconds = time.perf_counter() - started
        if not report.exists():
            pages.log(result.stdout[-3000:] + result.stderr[-3000:])
            return {"seconds": seconds, "tests": 0, "failures": 1, "errors": 0, "skipped": 0}
        suite = ElementTree.parse(report).getroot()
        suite = suite if suite.tag == "testsuite" else suite[0]
        failed = [
            case.get("name", "")
            for case in suite.iter("testcase")
            if case.find("failure") is not None or case.find("error") is not None
        ]
        return {
            "seconds": round(seconds, 1),
            "tests": int(suite.get("tests", 0)),
            "failures": int(suite.get("failures", 0)),
            "errors": int(suite.get("errors", 0)),
            "skipped": int(suite.get("skipped", 0)),
            "failed": failed[:50],
        }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", help="a PostgreSQL URL (default: SQLite)")
    args = parser.parse_args()
    load_before = pages.loadavg()
    size = matrix_size()
    pages.log(f"matrix: {size['rows']} rows × {size['callers']} callers = {size['cells']} cells")
    baseline = run_pytest(BASELINE, args.database_url)
    pages.log(f"baseline (one trivial test): {baseline['seconds']} s")
    run = run_pytest("tests/security/test_access_matrix.py", args.database_url)
    cells_run = run["tests"] - run["skipped"]
    print(
        f"access matrix: {size['rows']} endpoint rows ({size['distinct_endpoints']} distinct "
        f"pages and API operations, {size['api_rows']} API rows, {size['idor_rows']} IDOR rows) "
        f"× {size['callers']} callers = {size['cells']} cells"
    )
    print("expected: " + ", ".join(f"{k} {v}" for k, v in size["expected"].items()))
    print(
        f"ran {run['tests']} tests (the cells and the matrix's own checks): "
        f"{cells_run - run['failures'] - run['errors']} passed, "
        f"{run['failures'] + run['errors']} failed, in {run['seconds']} s "
        f"(baseline {baseline['seconds']} s: the matrix itself "
        f"{run['seconds'] - baseline['seconds']:.1f} s)"
    )
    for name in run.get("failed", []):
        print(f"  FAILED {name}")
    figures = {
        "benchmark": "access_matrix",
        "database": "postgresql" if args.database_url else "sqlite",
        "matrix": size,
        "run": run,
        "baseline": baseline,
        "machine": pages.machine_info(),
        "load": {"before": load_before, "after": pages.loadavg()},
    }
    print(json.dumps(figures, ensure_ascii=False))
    return 0 if run["failures"] == 0 and run["errors"] == 0 and run["tests"] else 1


if __name__ == "__main__":
    sys.exit(main())
