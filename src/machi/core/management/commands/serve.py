from __future__ import annotations

import os
from typing import Any

from django.core.management import call_command
from django.core.management.base import BaseCommand

from machi.core.management import processes


class Command(BaseCommand):
    help = (
        "Serve Machi in production through gunicorn (WSGI). Bind address from MACHI_BIND "
        "(default 127.0.0.1:MACHI_PORT, port 8000), processes from MACHI_WEB_WORKERS."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--bind", default=None)
        parser.add_argument("--workers", type=int, default=None)
        parser.add_argument(
            "--no-collectstatic", action="store_true", help="static files are already collected"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        bind = options["bind"] or os.environ.get(
            "MACHI_BIND", f"127.0.0.1:{os.environ.get('MACHI_PORT', '8000')}"
        )
        workers = options["workers"] or int(
            os.environ.get("MACHI_WEB_WORKERS", str(2 * (os.cpu_count() or 1) + 1))
        )
        if not options["no_collectstatic"]:
            call_command("collectstatic", interactive=False, verbosity=0)
        command = processes.gunicorn_args(bind=bind, workers=workers)
        os.execv(command[0], command)  # noqa: S606 - replace this process: signals go to gunicorn
