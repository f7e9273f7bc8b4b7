"""`machi jma ingest FILE…` and `machi jma poll [--url URL]`: JMA XML by hand.

``ingest`` stores each file once (its entry id is ``file:`` and the SHA-256 of its bytes) and
prints one line per file: stored, not about the city, or rejected with the reason. The exit
code is 1 when any file was rejected or could not be read. ``poll`` polls the configured feeds
(or one ``--url``) now, whatever MACHI_JMA_POLL says, and prints what each poll did; the exit
code is 1 when a feed could not be read or a message could not be downloaded.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand
from django.utils.translation import gettext as _

from machi.emergency import services_weather, tasks
from machi.emergency.models import JmaEntryStatus
from machi.emergency.selectors_weather import describe_entry


class Command(BaseCommand):
    help = (
        "JMA XML (気象庁防災情報XML). `machi jma ingest FILE…` stores messages from files; "
        "`machi jma poll [--url URL]` polls the feeds once now. Exit 1 on any rejection or failure."
    )

    def add_arguments(self, parser: Any) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        ingest = sub.add_parser("ingest", help="store JMA XML messages from files")
        ingest.add_argument("paths", nargs="+", metavar="FILE")
        poll = sub.add_parser("poll", help="poll the JMA feeds once, now")
        poll.add_argument(
            "--url", action="append", default=None, help="this feed instead of the configured ones"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["action"] == "ingest":
            failed = sum(not self._ingest(Path(path)) for path in options["paths"])
        else:
            failed = sum(not self._poll(url) for url in options["url"] or tasks.feed_urls())
        if failed:
            raise SystemExit(1)

    def _ingest(self, path: Path) -> bool:
        try:
            data = path.read_bytes()
        except OSError as exc:
            self.stderr.write(f"{path}: " + _("cannot be read: %(error)s") % {"error": exc})
            return False
        upload = services_weather.jma_upload(data=data, name=path.name)
        line = f"{path}: {describe_entry(upload.entry)}"
        if upload.known:
            line += " " + _("(already stored)")
        if upload.entry.status == JmaEntryStatus.REJECTED:
            self.stderr.write(line)
            return False
        self.stdout.write(line)
        return True

    def _poll(self, url: str) -> bool:
        summary = services_weather.jma_poll(url)
        (self.stdout if summary.ok else self.stderr).write(str(summary))
        for failure in summary.failures:
            self.stderr.write(f"  {failure}")
        return summary.ok
