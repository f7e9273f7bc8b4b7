from __future__ import annotations

from typing import Any

from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError

from machi.core import lgcode, services


class Command(BaseCommand):
    help = "Set up an empty installation for one municipality: machi init --lgcode 131130"

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument(
            "--lgcode",
            required=True,
            help="全国地方公共団体コード (6 digits, or 5 without a leading 0)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        call_command("migrate", interactive=False, verbosity=0)
        try:
            municipality = services.municipality_init(code=options["lgcode"])
        except (lgcode.LgCodeError, ValueError) as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(self.style.SUCCESS(f"Machi is set up for {municipality}."))
        self.stdout.write(
            "Next: `machi createsuperuser` for the first administrator, then `machi serve` "
            "and `machi worker`."
        )
