"""``machi recovery_rules [FILE]``: list the rule tables, or load a city's table (JSON).

A city may decide with another table than the ones Machi ships (a newer revision, or rows
Machi does not ship because they were not verified). The file names its kind (damage or
grant), its revision, its title and its source; it is checked before it is stored.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from machi.core import context
from machi.recovery import rules, services
from machi.recovery.models import RuleSet


class Command(BaseCommand):
    help = "List the damage and grant rule tables, or load a city's table from a JSON file."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("file", nargs="?", help="a rule table (JSON) to load")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["file"]:
            path = Path(options["file"])
            try:
                data = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError) as exc:
                raise CommandError(f"{path}: {exc}") from exc
            with context.acting(channel="cli"):
                try:
                    table = services.rule_table_load(data=data, loaded_by=None)
                except services.RecoveryError as exc:
                    raise CommandError(f"{path}: {exc.field}: {exc}") from exc
            self.stdout.write(f"loaded {table.kind} {table.name}: {table.title}")
            return
        for key, shipped in sorted(rules.shipped().items()):
            self.stdout.write(f"{key}\tshipped\t{shipped['title']}\t{shipped['source']}")
        for loaded in RuleSet.objects.order_by("kind", "name"):
            self.stdout.write(
                f"{loaded.kind}:{loaded.name}\tloaded\t{loaded.title}\t{loaded.source}"
            )
