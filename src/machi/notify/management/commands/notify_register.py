"""``machi notify_register [FILE…]``: registration by an empty e-mail (空メール登録).

The city's mail server pipes each message that arrives at ``MACHI_NOTIFY_REGISTER_ADDRESS`` to
this command (standard input). The sender gets the confirmation mail. It always exits 0 for a
message it could read, so the mail server never answers with a bounce; one line per message.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from machi.core import context
from machi.notify import inbound


class Command(BaseCommand):
    help = "Read mails sent to the registration address (files, or standard input) and answer."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("files", nargs="*", help="message files (.eml); none: standard input")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            if options["files"]:
                sources = [(name, Path(name).read_bytes()) for name in options["files"]]
            else:
                sources = [("stdin", sys.stdin.buffer.read(1_000_001))]
        except OSError as exc:
            raise CommandError(str(exc)) from exc
        with context.acting(channel="cli"):
            for name, raw in sources:
                outcome = inbound.register_by_mail(raw)
                self.stdout.write(f"{name}\t{outcome.kind}\t{outcome.detail}")
