from __future__ import annotations

import os
import unicodedata
from typing import Any

import pyotp
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand
from django.utils.module_loading import import_string

from machi.core.demo import DEMO_PASSWORD, load_demo_city
from machi.core.management import processes
from machi.core.models import TotpDevice


def pad(text: str, width: int) -> str:
    """Left-align in a terminal, where East Asian wide characters take two columns."""
    used = sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)
    return text + " " * max(0, width - used)


class Command(BaseCommand):
    help = (
        "Create the demo city (戸田市) on SQLite and serve it: web server and worker in one "
        "command; Ctrl-C stops both. Port from MACHI_PORT (default 8000)."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--no-serve", action="store_true", help="set up, but do not serve")
        parser.add_argument(
            "--scenario",
            default="",
            help="replay a scenario while serving, e.g. typhoon (see `machi scenario --help`)",
        )
        parser.add_argument(
            "--scenario-minutes",
            type=float,
            default=10.0,
            help="how many real minutes the scenario's evening takes (default 10)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        port = int(os.environ.get("MACHI_PORT", "8000"))
        call_command("migrate", interactive=False, verbosity=0)
        city = load_demo_city()
        loaded = [import_string(path)() for path in settings.MACHI_DEMO_LOADERS]
        url = f"http://127.0.0.1:{port}/"
        self.stdout.write(self.style.SUCCESS(f"\nMachi demo: {city.municipality}"))
        self.stdout.write(f"  database     {settings.DATABASES['default']['NAME']}")
        self.stdout.write(f"  facilities   {city.facilities}")
        for line in loaded:
            self.stdout.write(f"  {line}")
        self.stdout.write(f"  portal       {url}")
        self.stdout.write(f"  staff        {url}console/")
        self.stdout.write(f"  API docs     {url}api/v1/docs\n")
        self.stdout.write(f"  Staff sign-ins (password {DEMO_PASSWORD} for all):")
        for user in city.staff:
            roles = ", ".join(a.get_role_display() for a in user.role_assignments.all())
            secret = TotpDevice.objects.get(user=user).secret
            self.stdout.write(f"    {user.username:<9} {pad(roles, 44)} TOTP key {secret}")
        self.stdout.write(
            "  Second step: the demo shows the current 6-digit code on the page; or add the\n"
            '  TOTP key to an authenticator app (or run: python -c "import pyotp;'
            "print(pyotp.TOTP('KEY').now())\").\n"
        )
        # Show one code now so a first try needs no app at all.
        first = city.staff[0]
        self.stdout.write(
            f"  (current code for {first.username}: "
            f"{pyotp.TOTP(TotpDevice.objects.get(user=first).secret).now()})\n"
        )
        if options["no_serve"]:
            return
        self.stdout.write(self.style.SUCCESS(f"Serving on {url} — press Ctrl-C to stop.\n"))
        self.stdout.flush()
        commands = {
            "web": processes.gunicorn_args(bind=f"127.0.0.1:{port}", workers=2),
            "worker": processes.worker_args(workers=2),
        }
        # Rooms add the processes their demo needs (the Wi-Fi room: its simulated APs).
        for path in getattr(settings, "MACHI_DEMO_PROCESSES", []):
            commands.update(import_string(path)(url))
        if options["scenario"]:
            commands["scenario"] = [
                *processes.machi_args(),
                "scenario",
                options["scenario"],
                "--minutes",
                str(options["scenario_minutes"]),
            ]
            self.stdout.write(
                f"Replaying the {options['scenario']} scenario over "
                f"{options['scenario_minutes']:g} minutes: watch {url}console/shelters/\n"
            )
        code = processes.supervise(
            commands,
            # Links in notifications point at the demo's own address.
            env={
                "MACHI_DEMO": "1",
                "MACHI_PUBLIC_URL": os.environ.get("MACHI_PUBLIC_URL", f"http://127.0.0.1:{port}"),
            },
            oneshot=frozenset({"scenario"}),
        )
        if code:
            raise SystemExit(code)
