"""``machi notify_bounce [FILE…] [--envelope-to ADDRESS]``: act on bounces and complaints.

The city's mail server pipes each message that arrives at ``MACHI_NOTIFY_BOUNCE_ADDRESS`` to
this command (standard input), e.g. with Postfix ``pipe`` and ``${original_recipient}`` as
``--envelope-to``. A failed delivery stops the subscriber; an abuse report unsubscribes it;
a delay changes nothing. It always exits 0 for a message it could read, so the mail server
never bounces a bounce; the outcome is printed, one line per message.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from machi.core import context
from machi.notify import bounces


class Command(BaseCommand):
    help = "Read bounce or complaint messages (files, or standard input) and stop those addresses."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("files", nargs="*", help="message files (.eml); none: standard input")
        parser.add_argument("--envelope-to", default="", help="the address the message came to")

    def handle(self, *args: Any, **options: Any) -> None:
        sources: list[tuple[str, bytes]] = []
        try:
            if options["files"]:
                sources = [(name, Path(name).read_bytes()) for name in options["files"]]
            else:
                sources = [("stdin", sys.stdin.buffer.read(bounces.MAX_BYTES + 1))]
        except OSError as exc:
            raise CommandError(str(exc)) from exc
        with context.acting(channel="cli"):
            for name, raw in sources:
                report = bounces.process(raw, envelope_to=options["envelope_to"])
                where = f"delivery {report.delivery_id}" if report.delivery_id else "-"
                self.stdout.write(
                    f"{name}\t{report.kind}\t{where}\t{report.status}\t{report.detail}"
                )
