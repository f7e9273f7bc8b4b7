"""``machi procedures_retention [--days N] [--dry-run]``: apply the retention policy now."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from machi.core import context
from machi.procedures import retention


class Command(BaseCommand):
    help = "Remove the personal data of finished applications older than the retention period."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--days", type=int, default=None, help="instead of the setting")
        parser.add_argument("--dry-run", action="store_true", help="count only")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["dry_run"]:
            count = retention.due(days=options["days"]).count()
            self.stdout.write(f"{count} applications are past their retention")
            return
        with context.acting(channel="cli"):
            done = retention.anonymise(days=options["days"])
        self.stdout.write(f"{done} applications anonymised")
