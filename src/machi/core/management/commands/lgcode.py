from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from machi.core import lgcode


class Command(BaseCommand):
    help = "全国地方公共団体コード: `machi lgcode check CODE…` (exit 1 if any is invalid)"
    requires_system_checks: list[str] = []
    requires_migrations_checks = False

    def add_arguments(self, parser: Any) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        check = sub.add_parser("check", help="validate codes, repair lost leading zeros")
        check.add_argument("codes", nargs="+")

    def handle(self, *args: Any, **options: Any) -> None:
        failed = 0
        for raw in options["codes"]:
            try:
                code = lgcode.validate(raw)
            except lgcode.LgCodeError as exc:
                failed += 1
                self.stdout.write(f"{raw}\tinvalid\t{exc}")
                continue
            found = lgcode.lookup(code)
            name = found.full_name if found else "(valid check digit; not in the bundled list)"
            self.stdout.write(f"{raw}\tvalid\t{code}\t{name}")
        if failed:
            raise SystemExit(1)
