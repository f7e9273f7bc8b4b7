"""``machi notify_sink [--port N] [--dir PATH]``: the local SMTP sink, in the foreground.

The demo sends notification e-mail to it instead of real mailboxes: every message is accepted
and kept in ``--dir`` (``<seq>.eml`` and ``index.jsonl``, see machi.notify.peers.smtp_sink),
where the demo's pages read what arrived. Runs until Ctrl-C or SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _

from machi.notify.peers.smtp_sink import SmtpSink, run_until_signal


def port_number(text: str) -> int:
    value = int(text)
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"not a port: {value}")
    return value


def default_directory() -> Path:
    return Path(settings.DATA_DIR) / "mailsink"


class Command(BaseCommand):
    help = (
        "Run the local SMTP sink for notification e-mail (demo and tests) until Ctrl-C: it "
        "accepts every message and stores it in --dir."
    )
    # The sink touches no database: start at once, even before `machi init`.
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument(
            "--port",
            type=port_number,
            default=int(getattr(settings, "MACHI_NOTIFY_SINK_PORT", 8025)),
            help="port to listen on, 0 for any free one (default %(default)s)",
        )
        parser.add_argument("--host", default="127.0.0.1", help="address (default %(default)s)")
        parser.add_argument(
            "--dir",
            type=Path,
            default=None,
            metavar="PATH",
            help="where messages are stored (default: DATA_DIR/mailsink)",
        )
        parser.add_argument(
            "--keep",
            type=int,
            default=1000,
            metavar="N",
            help="messages also kept in memory (default %(default)s)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        directory = options["dir"] or default_directory()
        sink = SmtpSink(options["host"], options["port"], directory, keep=options["keep"])
        try:
            asyncio.run(run_until_signal(sink, self._listening))
        except OSError as exc:  # the port is taken, or the address is not ours
            where = f"{options['host']}:{options['port']}"
            raise CommandError(f"cannot listen on {where}: {exc}") from exc
        self.stdout.write(_("SMTP sink stopped after %(count)d messages.") % {"count": sink.count})

    def _listening(self, sink: SmtpSink) -> None:
        self.stdout.write(
            _("SMTP sink listening on %(host)s:%(port)d, storing messages in %(dir)s")
            % {"host": sink.host, "port": sink.port, "dir": sink.directory}
        )
        self.stdout.write(_("Press Ctrl-C to stop."))
        self.stdout.flush()
