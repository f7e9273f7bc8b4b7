"""`machi scenario typhoon [--evacuees 3849] [--shelters 28] [--minutes 10] [--seed 19]`.

Replays a disaster evening through the real services so the dashboards move as they would (see
``machi.shelters.scenario``). Ctrl-C stops it cleanly: what was recorded stays, and the summary
says how far it got (exit code 130).
"""

from __future__ import annotations

import math
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from machi.shelters import scenario


class Command(BaseCommand):
    help = (
        "Replay a disaster scenario through the real services, as HQ, with synthetic people. "
        "Scenarios: " + ", ".join(sorted(scenario.SCENARIOS)) + ". Example: `machi scenario "
        "typhoon --evacuees 3849 --shelters 28 --minutes 10` (戸田市, Typhoon Hagibis 2019)."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("name", metavar="SCENARIO", help="the scenario to run: typhoon")
        parser.add_argument(
            "--evacuees",
            type=int,
            default=scenario.HAGIBIS_EVACUEES,
            help="people registered in all, at shelters or elsewhere (default %(default)s)",
        )
        parser.add_argument(
            "--shelters",
            type=int,
            default=scenario.HAGIBIS_SHELTERS,
            help="shelters to open (default %(default)s)",
        )
        parser.add_argument(
            "--minutes",
            type=float,
            default=10.0,
            help="real minutes the evening lasts; 0 runs as fast as possible (default %(default)s)",
        )
        parser.add_argument(
            "--seed",
            type=int,
            default=19,
            help="seed of the synthetic people (default %(default)s)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        name = options["name"]
        run = scenario.SCENARIOS.get(name)
        if run is None:
            known = ", ".join(sorted(scenario.SCENARIOS))
            raise CommandError(f"unknown scenario {name!r}; known scenarios: {known}")
        evacuees, shelters, minutes = options["evacuees"], options["shelters"], options["minutes"]
        if evacuees < 1:
            raise CommandError("--evacuees must be a positive number")
        if shelters < 1:
            raise CommandError("--shelters must be a positive number")
        if not math.isfinite(minutes) or minutes < 0:
            raise CommandError("--minutes must be 0 (as fast as possible) or more")
        available = len(scenario.shelter_candidates())
        if shelters > available:
            raise CommandError(
                f"--shelters {shelters} is more than the {available} designated-shelter "
                "facilities that suit a flood here; ask for at most "
                f"{available} (or load more with `machi shelters import`)"
            )
        try:
            result = run(
                evacuees=evacuees,
                shelters=shelters,
                minutes=minutes,
                seed=options["seed"],
                out=self._line,
            )
        except scenario.ScenarioError as exc:
            raise CommandError(str(exc)) from exc
        except KeyboardInterrupt:  # before the replay started: nothing half-done to report
            self.stderr.write("Interrupted before the replay started.")
            raise SystemExit(130) from None
        if result.interrupted:
            raise SystemExit(130)

    def _line(self, text: str) -> None:
        self.stdout.write(text)
        self.stdout.flush()
