"""``machi recovery_residents FILE``: load the resident register extract for the 被災者台帳.

Columns: 宛名番号, 世帯番号, 氏名, カナ, 生年月日, 性別, 続柄, 住所 (UTF-8, UTF-8 with BOM or
CP932; no My Number). All or nothing: a bad row is printed as ``FILE:LINE:COLUMN: message``
and the exit code is 1.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from machi.core import context
from machi.recovery import ledger, services


class Command(BaseCommand):
    help = "Load the resident register extract (CSV) that the 被災者台帳 draws households from."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("file")

    def handle(self, *args: Any, **options: Any) -> None:
        path = Path(options["file"])
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise CommandError(str(exc)) from exc
        with context.acting(channel="cli"):
            try:
                done = ledger.residents_import(data=data)
            except services.RecoveryError as exc:
                raise CommandError(f"{path}:{exc.field}: {exc}") from exc
        self.stdout.write(f"{done.created} residents added, {done.updated} updated")
