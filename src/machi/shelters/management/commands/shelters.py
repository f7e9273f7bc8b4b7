"""`machi shelters import PATH [PATH …] [--dry-run]`: load the shelter registry from files.

Each file is imported in its own transaction: a file with a problem imports nothing and the
others still import. Problems go to stderr as ``PATH:ROW:COLUMN: message`` (ROW and COLUMN are
empty when the problem concerns the whole file); the exit code is 1 when any file failed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand
from django.utils.translation import gettext as _

from machi.shelters import importers


class Command(BaseCommand):
    help = (
        "Shelter registry. `machi shelters import PATH…` reads GSI 指定避難所 / 指定緊急避難場所 "
        "(CSV or GeoJSON) and 自治体標準データセット 03 files; exit 1 if any file has a problem."
    )

    def add_arguments(self, parser: Any) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        load = sub.add_parser("import", help="import shelter files, each all or nothing")
        load.add_argument("paths", nargs="+", metavar="PATH")
        load.add_argument(
            "--dry-run", action="store_true", help="check and count, but save nothing"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        failed = 0
        for path in options["paths"]:
            if not self._import(Path(path), dry_run=options["dry_run"]):
                failed += 1
        if failed:
            raise SystemExit(1)

    def _import(self, path: Path, *, dry_run: bool) -> bool:
        try:
            data = path.read_bytes()
        except OSError as exc:
            self.stderr.write(f"{path}::: {exc.strerror or exc}")
            return False
        try:
            summary = importers.shelters_import(data=data, file_name=path.name, dry_run=dry_run)
        except importers.ImportRefused as refused:
            for problem in refused.problems:
                row = "" if problem.row is None else problem.row
                self.stderr.write(f"{path}:{row}:{problem.column}: {problem.message}")
            if refused.truncated:
                self.stderr.write(f"{path}::: " + _("More problems were not listed."))
            self.stderr.write(f"{path}::: " + _("Nothing was imported from this file."))
            return False
        self.stdout.write(f"{path}: {self._describe(summary)}")
        return True

    def _describe(self, summary: importers.ImportSummary) -> str:
        text = _(
            "%(format)s, %(encoding)s: %(rows)s rows; %(created)s created, "
            "%(updated)s updated, %(unchanged)s unchanged."
        ) % {
            "format": summary.format_label,
            "encoding": summary.encoding_label,
            "rows": summary.rows,
            "created": summary.created,
            "updated": summary.updated,
            "unchanged": summary.unchanged,
        }
        if summary.dry_run:
            text += " " + _("Dry run: nothing was saved.")
        return text
