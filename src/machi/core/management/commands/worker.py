from __future__ import annotations

import os
from typing import Any

from django.core.management import call_command
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Run the background worker (Huey consumer). Workers from MACHI_WORKERS (default 2)."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--workers", type=int, default=None)

    def handle(self, *args: Any, **options: Any) -> None:
        workers = options["workers"] or int(os.environ.get("MACHI_WORKERS", "2"))
        call_command("run_huey", workers=workers)
