"""``machi notify_districts FILE [--kind school|district]``: import 学区 or 地区 to subscribe to.

A CSV with one row per area: the group's name (column 学区, 地区 or 名称) and the area (町字 name
or 町字ID). Residents can then choose their 学区 on the subscribe page. All or nothing: a bad row
is printed as ``FILE:LINE:COLUMN: message`` and the exit code is 1.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from machi.core import context
from machi.notify import services


class Command(BaseCommand):
    help = "Import 学区 or 地区 (CSV: group name and 町字 per row) that residents can choose."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("file")
        parser.add_argument("--kind", default="school", choices=["school", "district"])

    def handle(self, *args: Any, **options: Any) -> None:
        path = Path(options["file"])
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise CommandError(str(exc)) from exc
        with context.acting(channel="cli"):
            try:
                done = services.area_groups_import(data=data, kind=options["kind"])
            except services.NotifyError as exc:
                raise CommandError(f"{path}:{exc.field}: {exc}") from exc
        self.stdout.write(f"{done.groups} groups, {done.areas} areas")
